"""Sideline's composition root: the CLI, settings loading, logging and local services."""

__version__ = "0.1.0"
