"""pingctl: find a pingd on the LAN, ping it, and show what the round trip really costs."""

from pingd import __version__

__all__ = ["__version__"]
