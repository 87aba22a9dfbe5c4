"""`dsr codec-server`: Temporal's remote codec protocol, so the Temporal Web UI can show
decrypted payloads — to an authenticated DPO only, and every decryption is audited.

Protocol (https://docs.temporal.io/production-deployment/data-encryption): the UI POSTs
`{"payloads": [<Payload as protobuf JSON>...]}` to `/decode` (and `/encode`), with the namespace
in `X-Namespace` and, with "pass access token" on, the user's `Authorization: Bearer <token>`.
The answer has the same shape. The UI runs in the browser, so this server speaks CORS to the
UI's origins (`DSR_CODEC_CORS_ORIGINS`) including the preflight for the Authorization header.

The token comes as `Authorization: Bearer` (the UI's "pass access token", or `temporal workflow
show --codec-endpoint ... --codec-auth "Bearer <token>"`), or — for the Web UI of a dev server
that has no sign-on to pass a token from — as an HttpOnly, SameSite=Strict cookie set by this
server's own `/login` page, which the UI sends with "Include cross-origin credentials" on.
Without a token the answer is 401 and the UI keeps showing ciphertext; a token of another role
is 403. A decryption is written to the audit trail (actor = the token's name) *before* the
plaintext leaves: if the audit write fails, nothing is returned.

Wiring the UI: `temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8401` (the dev
server; `dsr up` does this, then sign in at http://127.0.0.1:8401/login and tick "Include
cross-origin credentials"), or for a self-hosted UI server `TEMPORAL_CODEC_ENDPOINT=<url>` with
`TEMPORAL_CODEC_INCLUDE_CREDENTIALS=true` (cookie) or `TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true`
(when its sign-on hands out the DPO's bearer token).
"""

from __future__ import annotations

import contextlib
import html
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from orchestrator.auth import Principal, Role, TokenVerifier, bearer_token
from orchestrator.codec import AesGcmCodec, PayloadKeyMissing, PayloadShredded
from orchestrator.logging import get_logger
from orchestrator.settings import Settings, parse_bind
from orchestrator.telemetry import TelemetryServer
from schemas.records import AuditAction, AuditEvent

__all__ = ["AuditSink", "create_codec_app", "parse_bind", "run_codec_server"]

log = get_logger(__name__)
UI_ACTOR_REQUEST = "temporal-ui"
# Every encrypted encoding of orchestrator.codec (master key, per-request data key) starts so.
ENCRYPTED_PREFIX = b"binary/encrypted"
_MAX_REQUEST_IDS = 20


class AuditSink(Protocol):
    async def append_audit(self, event: AuditEvent) -> AuditEvent: ...


SESSION_COOKIE = "dsr_codec_session"
SESSION_SECONDS = 8 * 3600
_LOGIN_FORM = (
    '<form method="post" action="/login"><label>DPO token '
    '<input name="token" type="password" autocomplete="off" required></label> '
    '<button type="submit">Sign in</button></form>'
)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}</html>"
    )


def _encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding", b"").startswith(ENCRYPTED_PREFIX)


def _encrypted_for(payloads: list[Payload]) -> list[str]:
    """Request ids that per-request encrypted payloads name in their metadata."""
    found: list[str] = []
    for payload in payloads:
        request_id = payload.metadata.get("encryption-request", b"").decode(errors="replace")
        if request_id and request_id not in found and len(found) < _MAX_REQUEST_IDS:
            found.append(request_id)
    return found


def _request_ids(payloads: list[Payload]) -> list[str]:
    """Request ids named at the top level of decrypted JSON payloads, so the audit entry says
    which requests were looked at (ids only: the payloads themselves are never logged)."""
    found: list[str] = []
    for payload in payloads:
        if not payload.metadata.get("encoding", b"").startswith(b"json/"):
            continue
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            document = json.loads(payload.data)
            if isinstance(document, dict) and isinstance(document.get("request_id"), str):
                rid = document["request_id"]
                if rid not in found and len(found) < _MAX_REQUEST_IDS:
                    found.append(rid)
    return found


def create_codec_app(
    settings: Settings, codec: AesGcmCodec, verifier: TokenVerifier, audit: AuditSink
) -> FastAPI:
    app = FastAPI(
        title="dsr codec server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    origins = [o.strip() for o in settings.codec_cors_origins.split(",") if o.strip()]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        max_age=600,
    )

    def _error(status: int, detail: str, **headers: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    async def _authorise(request: Request) -> Principal | JSONResponse:
        token = bearer_token(request.headers.get("authorization"))
        principal = verifier.verify(token or request.cookies.get(SESSION_COOKIE))
        if principal is None:
            return _error(401, "a DPO bearer token is required", **{"WWW-Authenticate": "Bearer"})
        if not principal.has_role(Role.DPO):
            return _error(403, "only the dpo role may use the codec")
        namespace = request.path_params.get("namespace") or request.headers.get(
            "x-namespace", settings.temporal_namespace
        )
        if namespace != settings.temporal_namespace:
            return _error(403, "this codec serves one namespace only")
        return principal

    async def _payloads(request: Request) -> list[Payload] | JSONResponse:
        try:
            message = json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, UnicodeDecodeError):
            return _error(400, 'body must be {"payloads": [...]}')
        return list(message.payloads)

    def _answer(payloads: list[Payload]) -> JSONResponse:
        message = Payloads(payloads=payloads)
        return JSONResponse(json_format.MessageToDict(message) or {"payloads": []})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/login", response_class=HTMLResponse)
    async def login_form() -> HTMLResponse:
        return HTMLResponse(_page("Sign in to decode payloads", _LOGIN_FORM))

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> HTMLResponse:
        """The browser way in: the Web UI without single sign-on has no access token to pass,
        so the DPO signs in here once and the UI sends the cookie along ("Include cross-origin
        credentials" in its Codec Server settings; same site, so SameSite=Strict holds)."""
        form = await request.form()
        principal = verifier.verify(str(form.get("token", "")).strip() or None)
        if principal is None or not principal.has_role(Role.DPO):
            return HTMLResponse(
                _page("Not signed in", "<p>That is not a DPO token.</p>" + _LOGIN_FORM),
                status_code=401,
            )
        response = HTMLResponse(
            _page(
                f"Signed in as {html.escape(principal.name)}",
                "<p>In the Temporal Web UI open <b>Settings → Codec Server</b>, enter this "
                "server's address and tick <b>Include cross-origin credentials</b>. Every "
                "decryption is written to the audit trail under your name.</p>",
            )
        )
        response.set_cookie(
            SESSION_COOKIE,
            str(form["token"]).strip(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        log.info("codec sign-in", actor=principal.name)
        return response

    @app.post("/logout", response_class=HTMLResponse)
    async def logout() -> HTMLResponse:
        response = HTMLResponse(_page("Signed out", ""))
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.post("/encode")
    @app.post("/{namespace}/encode")
    async def encode(request: Request) -> JSONResponse:
        principal = await _authorise(request)
        if isinstance(principal, JSONResponse):
            return principal
        payloads = await _payloads(request)
        if isinstance(payloads, JSONResponse):
            return payloads
        return _answer(await codec.encode(payloads))

    @app.post("/decode")
    @app.post("/{namespace}/decode")  # the CLI's --codec-endpoint templating
    async def decode(request: Request) -> JSONResponse:
        principal = await _authorise(request)
        if isinstance(principal, JSONResponse):
            return principal
        payloads = await _payloads(request)
        if isinstance(payloads, JSONResponse):
            return payloads
        encrypted = sum(1 for p in payloads if _encrypted(p))
        named = _encrypted_for(payloads)
        try:
            decoded = await codec.decode(payloads)
        except PayloadShredded:
            return _error(422, "a payload belongs to a request whose data key was destroyed")
        except PayloadKeyMissing:
            return _error(422, "a payload was encrypted with a key this server does not hold")
        except Exception as exc:  # an InvalidTag from a forged or corrupted payload, typically
            log.warning("codec decode failed", error_type=type(exc).__name__)
            return _error(422, "a payload could not be decrypted")
        if encrypted:
            request_ids = [*named, *(r for r in _request_ids(decoded) if r not in named)]
            try:
                await audit.append_audit(
                    AuditEvent(
                        request_id=request_ids[0] if len(request_ids) == 1 else UI_ACTOR_REQUEST,
                        action=AuditAction.PAYLOAD_DECRYPTED,
                        actor=principal.name,
                        at=datetime.now(UTC),
                        details={
                            "namespace": settings.temporal_namespace,
                            "payloads": encrypted,
                            "request_ids": request_ids,
                            "origin": request.headers.get("origin", ""),
                        },
                        dedupe_key=f"codec/{uuid.uuid4()}",
                    )
                )
            except Exception as exc:
                log.error("codec audit failed", error_type=type(exc).__name__)
                return _error(503, "the decryption could not be audited, so it is refused")
        log.info("payloads decoded", actor=principal.name, payloads=len(payloads))
        return _answer(decoded)

    return app


def run_codec_server(settings: Settings) -> None:
    """Serve on `settings.codec_bind` until SIGTERM/SIGINT."""
    import asyncio

    from orchestrator.datakeys import DataKeyRing
    from orchestrator.shutdown import run_uvicorn
    from orchestrator.store import Store

    verifier = TokenVerifier.from_settings(settings)
    if not verifier.configured:
        log.warning("no DSR_API_TOKENS configured: every decode will be refused (401)")
    # Payloads of a request are sealed with its own data key (orchestrator.datakeys), kept in
    # the store; the ring opens the store on uvicorn's loop at first use.
    data_keys = DataKeyRing(settings.payload_key_ring(), settings.database_url)
    codec = AesGcmCodec(settings.payload_key_ring(), data_keys=data_keys)
    host, port = parse_bind(settings.codec_bind, "DSR_CODEC_BIND")

    class _LazyStore:
        """Opens the store on the server's own event loop (uvicorn's), at first use."""

        def __init__(self) -> None:
            self._store: Store | None = None
            self._lock = asyncio.Lock()

        async def append_audit(self, event: AuditEvent) -> AuditEvent:
            async with self._lock:
                if self._store is None:
                    self._store = await Store.open(settings.database_url)
            return await self._store.append_audit(event)

        async def close(self) -> None:
            if self._store is not None:
                await self._store.close()

    store = _LazyStore()
    app = create_codec_app(settings, codec, verifier, store)

    # The process's metrics and liveness (DSR_METRICS_BIND), like every other service's; it
    # talks to no Temporal, so readiness has nothing to check beyond the process itself.
    telemetry = TelemetryServer(settings.metrics_bind) if settings.metrics_bind else None

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if telemetry is not None:
            await telemetry.start()
        try:
            yield
        finally:
            if telemetry is not None:
                await telemetry.stop()
            await store.close()
            await data_keys.aclose()

    app.router.lifespan_context = lifespan
    log.info("codec server listening", bind=settings.codec_bind)
    run_uvicorn(app, host=host, port=port, deadline=settings.shutdown_timeout, log_config=None)
