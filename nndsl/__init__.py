"""nndsl: a model-definition language for neural networks.

`nndsl.load(path_or_text)` checks a spec and returns a Program (see nndsl.api); errors raise
`nndsl.NndslError` carrying every diagnostic.
"""

from nndsl.errors import Diagnostic, NndslError

__version__ = "0.1.0"


def load(path_or_text, **kwargs):
    from nndsl.api import load as _load

    return _load(path_or_text, **kwargs)


__all__ = ["Diagnostic", "NndslError", "load", "__version__"]
