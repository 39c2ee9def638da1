"""ddfa: fast, accurate and stable 3D dense face alignment."""

__version__ = "0.1.0"
