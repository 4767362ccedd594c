__version__ = "0.1.0"

# The public API, under the original flamingo-mini's names. Hand-written (nbdev only updates the version above).
#
# Two promises pull apart here. `import flamingo_mini` is the one line that makes transformers' Auto classes and
# `pipeline` load a saved checkpoint, so it must register the classes with transformers, and that needs torch and
# transformers' model code (several seconds to import). The `flamingo-mini` command imports this package too, and its
# `--help` (and any usage error) should answer at once. So:
# - the public names are PEP 562 lazy attributes: `flamingo_mini.FlamingoModel` imports `model` on first use;
# - the registration (`flamingo_mini.hub`) runs on import, except in the `flamingo-mini` command itself (its console
#   script, or `python -m flamingo_mini.cli`), which imports `hub` when a sub-command loads a model.
import sys as _sys
from pathlib import Path as _Path

__all__ = ['FlamingoConfig', 'FlamingoModel', 'FlamingoProcessor']
_LAZY = {'FlamingoConfig': 'model', 'FlamingoModel': 'model', 'FlamingoProcessor': 'processor'}

def __getattr__(name:str):
    if name not in _LAZY: raise AttributeError(f"module 'flamingo_mini' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f'.{_LAZY[name]}', __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value

def __dir__(): return sorted(set(globals()) | set(_LAZY))

def _is_command_line() -> bool:
    "True in the process of the `flamingo-mini` command: its console script, or `python -m flamingo_mini.cli`."
    argv = getattr(_sys, 'orig_argv', _sys.argv)  # `python -m` puts '-m' in sys.argv[0] while it imports this package
    as_module = any(a == '-m' and argv[i + 1:i + 2] == ['flamingo_mini.cli'] for i, a in enumerate(argv))
    return as_module or _Path(_sys.argv[0] if _sys.argv else '').name == 'flamingo-mini'

if not _is_command_line():
    from . import hub  # registers the classes with transformers' Auto classes and pipelines (no remote code needed)
