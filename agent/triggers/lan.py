"""The box's small HTTP endpoint for phones on the field's LAN.

Routes (JSON in and out; every error is ``{"error": code, "message": text}``):

* ``GET  /v1/health`` — no token: ``{"status": "ok"}``, so a phone can tell the box is there;
* ``GET  /v1/status`` — token: whatever the daemon's status callable returns;
* ``GET  /metrics`` — token: the box's Prometheus metrics (``agent.wiring.metrics``);
* ``POST /v1/clips``  — token: body ``{"camera_id"?, "pre_s"?, "post_s"?, "note"?, "by"?}``
  → ``202 {"clip_ids": [...], "at": ...}``; the trigger time is the box's clock on arrival;
* ``GET  /`` — a one-button page for a phone's browser (the token is typed once and kept
  in the phone's local storage).

Auth is ``Authorization: Bearer <token>`` compared in constant time. Errors:
400 (not JSON, bad length), 401 (missing/wrong token), 404, 405, 413 (body over 16 KiB),
422 (fields invalid, or the clip writer refused the window: the message says why).
The stdlib's ``ThreadingHTTPServer`` keeps the box light; the server runs in
``run()`` and stops on :meth:`LanTriggerServer.stop`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from agent.interfaces.triggers import ClipRequest, ClipTrigger, TriggerRejected
from agent.triggers.config import LanTriggerConfig
from agent.triggers.page import PHONE_PAGE
from protocol import Trigger, TriggerSource, utc_now
from protocol.times import format_utc

__all__ = ["LanClipBody", "LanTriggerServer", "MetricsRenderer"]

log = logging.getLogger(__name__)

_MAX_BODY = 16 * 1024

MetricsRenderer = Callable[[], tuple[bytes, str]]
"""The metrics' text and its content type."""

_TOKEN_ROUTES = {"/v1/status": "GET", "/v1/clips": "POST", "/metrics": "GET"}


class LanClipBody(BaseModel):
    """What a phone may send with a clip request."""

    model_config = ConfigDict(extra="forbid")

    camera_id: str | None = None
    pre_s: float | None = Field(default=None, allow_inf_nan=False)
    post_s: float | None = Field(default=None, allow_inf_nan=False)
    note: Annotated[str, StringConstraints(max_length=500)] | None = None
    by: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class _HttpError(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _unauthorized_message(header: str | None) -> str:
    if header and header.startswith("Bearer ") and header[len("Bearer ") :].strip():
        return (
            "wrong token: the Bearer token sent is not this box's "
            "(triggers.lan.token in the box's config; the phone page asks for it again)"
        )
    return "send the box's token as 'Authorization: Bearer <token>'"


class LanTriggerServer:
    def __init__(
        self,
        config: LanTriggerConfig,
        clips: ClipTrigger,
        *,
        status: Callable[[], Mapping[str, Any]],
        metrics: MetricsRenderer | None = None,
    ) -> None:
        if config.token is None or len(config.token.get_secret_value()) < 16:
            raise ValueError(
                "triggers.lan.token must be set to at least 16 characters when the LAN "
                "endpoint is enabled (phones send it as 'Authorization: Bearer <token>')"
            )
        self.config = config
        self._token = config.token.get_secret_value().encode()
        self._clips = clips
        self._status = status
        self._metrics = metrics
        self.requests = 0
        self.clips_requested = 0
        self.unauthorized = 0
        self._server = ThreadingHTTPServer((config.host, config.port), self._handler_class())
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def run(self) -> None:
        log.info("LAN trigger endpoint on http://%s:%d/", self.config.host, self.port)
        self._server.serve_forever(poll_interval=0.25)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- request handling (one thread per request) ----------------------------------------

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), self._token)

    def handle_clip(self, body: bytes, client: str) -> dict[str, Any]:
        try:
            payload = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _HttpError(
                HTTPStatus.BAD_REQUEST, "bad_json", f"body is not JSON: {exc}"
            ) from None
        try:
            fields = LanClipBody.model_validate(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise _HttpError(
                HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", problems
            ) from None
        trigger = Trigger(
            source=TriggerSource.LAN,
            at=utc_now(),
            by=fields.by or f"lan:{client}",
            note=fields.note,
        )
        request = ClipRequest(
            trigger=trigger, camera_id=fields.camera_id, pre_s=fields.pre_s, post_s=fields.post_s
        )
        try:
            ids = self._clips.request_clip(request)
        except TriggerRejected as exc:
            raise _HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, "rejected", str(exc)) from None
        self.clips_requested += 1
        return {"clip_ids": [str(i) for i in ids], "at": format_utc(trigger.at)}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_LanHandler,), {"lan": self})


class _LanHandler(BaseHTTPRequestHandler):
    """One request to the LAN endpoint; ``lan`` is the server it belongs to."""

    lan: LanTriggerServer
    server_version = "sideline-box"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self.lan.requests += 1
        path = self.path.split("?", 1)[0]
        try:
            self._route(method, path)
        except _HttpError as error:
            if error.status is not HTTPStatus.NOT_FOUND:
                log.warning(
                    "LAN %s %s from %s: %s", method, path, self.client_address[0], error.message
                )
            self._json(error.status, {"error": error.code, "message": error.message})
        except Exception:
            log.exception("LAN %s %s failed", method, path)
            self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"error": "internal_error", "message": "see the box's log"},
            )

    def _route(self, method: str, path: str) -> None:
        if path == "/" and method == "GET":
            self._send(HTTPStatus.OK, PHONE_PAGE.encode(), "text/html; charset=utf-8")
            return
        if path == "/v1/health" and method == "GET":
            self._json(HTTPStatus.OK, {"status": "ok"})
            return
        allowed = _TOKEN_ROUTES.get(path)
        if allowed is None or (path == "/metrics" and self.lan._metrics is None):
            raise _HttpError(HTTPStatus.NOT_FOUND, "not_found", f"no route {path}")
        if method != allowed:
            raise _HttpError(
                HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"{path} takes {allowed}"
            )
        sent = self.headers.get("Authorization")
        if not self.lan.authorized(sent):
            self.lan.unauthorized += 1
            raise _HttpError(HTTPStatus.UNAUTHORIZED, "unauthorized", _unauthorized_message(sent))
        if path == "/v1/status":
            self._json(HTTPStatus.OK, dict(self.lan._status()))
        elif path == "/metrics":
            assert self.lan._metrics is not None
            body, content_type = self.lan._metrics()
            self._send(HTTPStatus.OK, body, content_type)
        else:
            result = self.lan.handle_clip(self._body(), self.client_address[0])
            self._json(HTTPStatus.ACCEPTED, result)

    def _body(self) -> bytes:
        raw = self.headers.get("Content-Length", "0")
        try:
            length = int(raw)
        except ValueError:
            raise _HttpError(
                HTTPStatus.BAD_REQUEST,
                "bad_length",
                f"Content-Length {raw!r} is not a number",
            ) from None
        if length < 0:
            raise _HttpError(HTTPStatus.BAD_REQUEST, "bad_length", "negative Content-Length")
        if length > _MAX_BODY:
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "too_large",
                f"body over {_MAX_BODY} bytes",
            )
        return self.rfile.read(length)

    def _json(self, status: HTTPStatus, payload: Mapping[str, Any]) -> None:
        self._send(status, json.dumps(payload, default=str).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status is HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="sideline"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("LAN %s - %s", self.client_address[0], format % args)
