"""The user-facing layer: command line and HTTP service."""
