"""OpenTrail: a self-hosted audit trail service, wire-compatible with AWS CloudTrail."""

__version__ = "0.1.0"
__all__ = ["__version__"]
