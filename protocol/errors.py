"""Everything the protocol refuses, under one root: :class:`ProtocolError`.

Each error has a stable machine-readable ``code`` (what a dead letter, a refused
command or a log line carries); the message is for people and names the field
or the topic level at fault. Callers that only need "is this ours and valid?"
catch :class:`ProtocolError`; those that treat a topic differently from a
payload catch :class:`TopicError` first.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FieldError",
    "MalformedPayload",
    "PayloadTooLarge",
    "ProtocolError",
    "SchemaMismatch",
    "TopicError",
    "UnsupportedVersion",
]


class ProtocolError(ValueError):
    """Not a valid message or topic. ``code`` is stable; the text is for people."""

    code = "protocol_error"


class TopicError(ProtocolError):
    """A topic or topic part that is not valid for this protocol."""

    code = "bad_topic"


class PayloadTooLarge(ProtocolError):
    code = "too_large"


class MalformedPayload(ProtocolError):
    code = "not_json"


class UnsupportedVersion(ProtocolError):
    code = "unsupported_version"


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str  # dotted, e.g. "records.3.occurred_at"
    message: str
    input: str  # repr of the bad value, bounded


class SchemaMismatch(ProtocolError):
    code = "schema"

    def __init__(self, message: str, errors: list[FieldError]) -> None:
        super().__init__(message)
        self.errors = errors
