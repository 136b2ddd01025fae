"""The agent's errors, under one root: :class:`AgentError`.

Each is defined beside the code that raises it and also keeps the built-in
base it always had (``RuntimeError``, ``ValueError``), so a caller may catch at
the level it needs: one kind (``SourceError``: reopen the camera), a whole
subsystem's, or every refusal of the agent (``AgentError``). The families:

- capture: ``agent.capture.sources.SourceError`` (and ``SourceStalled``,
  ``UnsupportedStream``);
- the seams between subsystems (``agent.interfaces``): ``TriggerRejected`` (a clip
  request that cannot be honoured), ``StoreUnavailable`` (the store could not commit);
- the store: ``agent.buffer.database.StoreOpenError``, ``agent.buffer.schema.SchemaTooNew``;
- detection: ``agent.detect.errors.ModelError`` (also a ``core.settings.ConfigError``),
  ``agent.detect.fetch.FetchError``;
- sync: ``agent.sync.objectstore.ObjectStoreError``.

Configuration errors are ``core.settings.ConfigError`` (shared with the cloud);
what the wire refuses is ``protocol.ProtocolError``.
"""

from __future__ import annotations

__all__ = ["AgentError"]


class AgentError(Exception):
    """Root of every error the agent raises on purpose."""
