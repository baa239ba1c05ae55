"""worldsmith: build world foundation models for physical AI."""

from worldsmith.errors import WorldsmithError

__version__ = "0.1.0"
__all__ = ["WorldsmithError", "__version__"]
