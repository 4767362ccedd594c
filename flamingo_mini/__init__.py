__version__ = "0.1.0"

# The public API, under the original flamingo-mini's names. Hand-written (nbdev only updates the version above).
from .model import FlamingoConfig, FlamingoModel
from .processor import FlamingoProcessor
from . import hub  # registers the classes with transformers' Auto classes and pipelines (no remote code needed)
