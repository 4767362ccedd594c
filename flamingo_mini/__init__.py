__version__ = "0.1.0"

# The public API, under the original flamingo-mini's names. Hand-written (nbdev only updates the version above).
# Imported lazily, so that `import flamingo_mini.world` (say) does not pay for importing transformers.
_LAZY = {'FlamingoConfig': 'model', 'FlamingoModel': 'model', 'FlamingoProcessor': 'processor'}
__all__ = list(_LAZY)

def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f'.{_LAZY[name]}', __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
