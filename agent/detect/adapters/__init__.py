"""Output adapters: one per layout that detectors are commonly exported in.

Each adapter declares the manifest ``format`` it reads and so registers itself
(:class:`~agent.detect.adapters.base.OutputAdapter`); importing this package
imports every module in it. Adding a format is adding a module here.
"""

from __future__ import annotations

import importlib
import pkgutil

from agent.detect.adapters.base import Candidates, OutputAdapter, registered_adapters
from agent.detect.manifest import ModelManifest

__all__ = ["Candidates", "OutputAdapter", "adapter_for", "known_formats"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def known_formats() -> list[str]:
    return sorted(registered_adapters())


def adapter_for(manifest: ModelManifest) -> OutputAdapter:
    return registered_adapters()[manifest.format](manifest)
