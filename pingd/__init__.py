"""pingd: a daemon that counts pings, one message at a time, and never loses its count."""

__version__ = "0.1.0"

__all__ = ["__version__"]
