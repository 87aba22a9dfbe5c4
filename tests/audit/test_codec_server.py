"""The codec server over real HTTP (uvicorn on a free port, httpx): the Temporal Web UI's
protocol, CORS preflight for the Authorization header, DPO-only decryption, every decryption in
the audit trail with the token's name as actor; without a token the payloads stay sealed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import DataConverter, WorkflowSerializationContext

from devstack.localstack import free_port, temporal_dev_server, wait_until
from orchestrator.auth import TokenVerifier, hash_token, parse_api_tokens
from orchestrator.codec import DATA_KEY_ENCODING, ENCODING, AesGcmCodec
from orchestrator.codec_server import create_codec_app
from orchestrator.datakeys import DataKeyRing
from orchestrator.settings import Settings
from orchestrator.store import Store, upgrade
from schemas.records import AuditAction

PAYLOAD_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
TOKENS = {"dpo-anna": "dpo", "op-olle": "operator", "aud-ida": "auditor"}
SECRETS = {name: f"token-{name}-{os.urandom(8).hex()}" for name in TOKENS}
UI_ORIGIN = "http://127.0.0.1:8233"


def token_setting() -> str:
    return ",".join(f"{n}:{r}:{hash_token(SECRETS[n])}" for n, r in TOKENS.items())


class Codec:
    def __init__(
        self, base_url: str, store: Store, settings: Settings, data_keys: DataKeyRing
    ) -> None:
        self.base_url, self.store, self.settings = base_url, store, settings
        self.data_keys = data_keys
        self.codec = AesGcmCodec(settings.payload_key_ring(), data_keys=data_keys)

    async def sealed(self, *values: Any, workflow_id: str | None = None) -> dict[str, Any]:
        """Payloads exactly as the worker writes them into history, in the UI's JSON form:
        under the master key, or under the request's data key for a request's workflow."""
        codec = self.codec
        if workflow_id is not None:
            codec = codec.with_context(
                WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)
            )
        plain = DataConverter.default.payload_converter.to_payloads(values)
        message = Payloads(payloads=await codec.encode(plain))
        return json_format.MessageToDict(message)


@pytest.fixture(scope="module")
async def codec(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Codec]:
    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('codec') / 'store.db'}"
    await upgrade(database_url)
    settings = Settings(
        payload_keys=PAYLOAD_KEYS,
        api_tokens=token_setting(),
        database_url=database_url,
        codec_cors_origins=f"{UI_ORIGIN},http://localhost:8233",
    )
    store = await Store.open(database_url)
    data_keys = DataKeyRing(settings.payload_key_ring(), database_url)
    app = create_codec_app(
        settings,
        AesGcmCodec(settings.payload_key_ring(), data_keys=data_keys),
        TokenVerifier(parse_api_tokens(token_setting())),
        store,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await asyncio.to_thread(wait_until, lambda: server.started, 20, "codec server")
    yield Codec(f"http://127.0.0.1:{port}", store, settings, data_keys)
    server.should_exit = True
    await task
    await store.close()
    await data_keys.aclose()


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[name]}", "X-Namespace": "default"}


async def decryptions(store: Store) -> list[Any]:
    rows = [row async for row in store.iter_audit_rows()]
    return [r for r in rows if r["action"] == AuditAction.PAYLOAD_DECRYPTED.value]


async def test_dpo_token_decrypts_and_the_decryption_is_audited(codec: Codec) -> None:
    body = await codec.sealed({"request_id": "req-codec-1", "kind": "erasure"}, "second")
    assert all(base64.b64decode(p["metadata"]["encoding"]) == ENCODING for p in body["payloads"])
    before = len(await decryptions(codec.store))
    async with httpx.AsyncClient(base_url=codec.base_url) as client:
        answer = await client.post("/decode", json=body, headers=bearer("dpo-anna"))
    assert answer.status_code == 200, answer.text
    decoded = json_format.ParseDict(answer.json(), Payloads())
    values = DataConverter.default.payload_converter.from_payloads(list(decoded.payloads))
    assert values == [{"request_id": "req-codec-1", "kind": "erasure"}, "second"]

    entries = await decryptions(codec.store)
    assert len(entries) == before + 1
    entry = entries[-1]
    assert entry["actor"] == "dpo-anna"
    assert entry["request_id"] == "req-codec-1"
    assert entry["details"]["payloads"] == 2
    assert await codec.store.verify_audit_chain() >= 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        ({"Authorization": f"Basic {SECRETS['dpo-anna']}"}, 401),
        (bearer("op-olle"), 403),
        (bearer("aud-ida"), 403),
        ({**bearer("dpo-anna"), "X-Namespace": "another"}, 403),
    ],
)
async def test_without_a_dpo_token_nothing_is_decrypted(
    codec: Codec, headers: dict[str, str], status: int
) -> None:
    body = await codec.sealed({"request_id": "req-codec-2"})
    before = len(await decryptions(codec.store))
    async with httpx.AsyncClient(base_url=codec.base_url) as client:
        answer = await client.post("/decode", json=body, headers=headers)
    assert answer.status_code == status
    assert "payloads" not in answer.json()
    assert "req-codec-2" not in answer.text
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
    assert len(await decryptions(codec.store)) == before


async def test_encode_round_trips_and_plain_payloads_are_not_audited(codec: Codec) -> None:
    plain = json_format.MessageToDict(
        Payloads(payloads=DataConverter.default.payload_converter.to_payloads(["hello"]))
    )
    before = len(await decryptions(codec.store))
    async with httpx.AsyncClient(base_url=codec.base_url) as client:
        sealed = await client.post("/encode", json=plain, headers=bearer("dpo-anna"))
        assert sealed.status_code == 200
        assert "hello" not in base64.b64decode(sealed.json()["payloads"][0]["data"]).decode(
            errors="replace"
        )
        unchanged = await client.post("/decode", json=plain, headers=bearer("dpo-anna"))
        assert unchanged.json() == plain
        opened = await client.post("/decode", json=sealed.json(), headers=bearer("dpo-anna"))
        assert opened.json() == plain
        refused = await client.post("/encode", json=plain)
        assert refused.status_code == 401
        bad = await client.post("/decode", content=b"{]", headers=bearer("dpo-anna"))
        assert bad.status_code == 400
    assert len(await decryptions(codec.store)) == before + 1  # only the sealed one


async def test_cors_preflight_allows_the_ui_origin_and_the_authorization_header(
    codec: Codec,
) -> None:
    preflight = {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with httpx.AsyncClient(base_url=codec.base_url) as client:
        allowed = await client.options("/decode", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"
        allowed_headers = allowed.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type", "x-namespace"} <= {
            h.strip() for h in allowed_headers.split(",")
        }
        foreign = await client.options("/decode", headers={**preflight, "Origin": "http://evil"})
        assert foreign.status_code == 400
        assert "access-control-allow-origin" not in foreign.headers
        # the actual request from the UI carries the origin and gets it echoed
        body = await codec.sealed("x")
        answer = await client.post(
            "/decode", json=body, headers={**bearer("dpo-anna"), "Origin": UI_ORIGIN}
        )
        assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
        # a 401 also carries CORS headers, so the UI can read it (and show ciphertext)
        denied = await client.post("/decode", json=body, headers={"Origin": UI_ORIGIN})
        assert denied.status_code == 401
        assert denied.headers["access-control-allow-origin"] == UI_ORIGIN


def test_dsr_codec_server_serves_on_its_bind_and_stops_on_sigterm(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    port, metrics_port = free_port(), free_port()
    env = {
        "DSR_METRICS_BIND": f"127.0.0.1:{metrics_port}",
        "DSR_ENV_FILE": "/nonexistent/dsr-test.env",
        "DSR_PAYLOAD_KEYS": PAYLOAD_KEYS,
        "DSR_API_TOKENS": token_setting(),
        "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "DSR_CODEC_BIND": f"127.0.0.1:{port}",
        "PATH": "/usr/bin:/bin",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from devstack.cli import main; main()", "codec-server"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def healthy() -> bool:
            assert process.poll() is None, process.stderr and process.stderr.read()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 120, "codec server")  # a cold CLI start is slow on a busy machine
        codec = AesGcmCodec(Settings(payload_keys=PAYLOAD_KEYS).payload_key_ring())
        sealed = asyncio.run(
            codec.encode(
                DataConverter.default.payload_converter.to_payloads([{"request_id": "req-cli-1"}])
            )
        )
        body = json_format.MessageToDict(Payloads(payloads=sealed))
        answer = httpx.post(
            f"http://127.0.0.1:{port}/decode", json=body, headers=bearer("dpo-anna")
        )
        assert answer.status_code == 200
        # its telemetry endpoint, like every other service's (DSR_METRICS_BIND)
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert metrics.status_code == 200 and "process_cpu_seconds_total" in metrics.text
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/readyz").status_code == 200
        process.send_signal(signal.SIGTERM)
        # uvicorn drains and runs the lifespan shutdown; the signal it re-raises then is a
        # clean exit (orchestrator.shutdown.run_uvicorn), not death by SIGTERM (status 143)
        assert process.wait(60) == 0
        assert process.stderr is not None
        assert "Finished server process" in process.stderr.read().decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT request_id, action, actor FROM audit_events").fetchall()
    assert rows == [("req-cli-1", AuditAction.PAYLOAD_DECRYPTED.value, "dpo-anna")]


async def test_browser_sign_in_sets_a_strict_cookie_the_ui_sends_along(codec: Codec) -> None:
    body = await codec.sealed({"request_id": "req-cookie-1"})
    async with httpx.AsyncClient(base_url=codec.base_url) as client:
        assert "DPO token" in (await client.get("/login")).text
        refused = await client.post("/login", data={"token": SECRETS["op-olle"]})
        assert refused.status_code == 401
        assert "set-cookie" not in refused.headers
        signed_in = await client.post("/login", data={"token": SECRETS["dpo-anna"]})
        assert signed_in.status_code == 200
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        # the UI's fetch with credentials: the cookie, no Authorization header
        answer = await client.post(
            "/decode", json=body, headers={"Origin": UI_ORIGIN, "X-Namespace": "default"}
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-credentials"] == "true"
        # the CLI's templated endpoint, /{namespace}/decode
        templated = await client.post("/default/decode", json=body)
        assert templated.status_code == 200
        await client.post("/logout")
        assert (await client.post("/decode", json=body)).status_code == 401
    entries = await decryptions(codec.store)
    assert [e["actor"] for e in entries if e["request_id"] == "req-cookie-1"] == [
        "dpo-anna",
        "dpo-anna",
    ]


async def test_per_request_payloads_decrypt_until_the_data_key_is_shredded(codec: Codec) -> None:
    """Payloads under a request's own data key name the request in their metadata: the audit
    entry says whose history was read; once the key is destroyed nothing decrypts."""
    body = await codec.sealed("opaque", workflow_id="dsr-req-datakey-1")
    assert base64.b64decode(body["payloads"][0]["metadata"]["encoding"]) == DATA_KEY_ENCODING
    async with httpx.AsyncClient(base_url=codec.base_url) as client:
        answer = await client.post("/decode", json=body, headers=bearer("dpo-anna"))
        assert answer.status_code == 200, answer.text
        decoded = json_format.ParseDict(answer.json(), Payloads())
        assert DataConverter.default.payload_converter.from_payloads(list(decoded.payloads)) == [
            "opaque"
        ]
        trail = await codec.store.audit_trail("req-datakey-1")
        assert [(e.action, e.actor) for e in trail] == [(AuditAction.PAYLOAD_DECRYPTED, "dpo-anna")]
        assert await codec.data_keys.destroy("req-datakey-1")
        shredded = await client.post("/decode", json=body, headers=bearer("dpo-anna"))
    assert shredded.status_code == 422
    assert "destroyed" in shredded.json()["detail"]
    assert "opaque" not in shredded.text


def test_dev_server_web_ui_is_pointed_at_the_codec(tmp_path: Path) -> None:
    """What `dsr up` starts: the Temporal dev server's Web UI announces our codec endpoint."""
    port, ui_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{free_port()}"
    server = temporal_dev_server(
        port, tmp_path / "temporal.db", tmp_path, ui_port=ui_port, ui_codec_endpoint=endpoint
    )
    try:
        settings = httpx.get(f"http://127.0.0.1:{ui_port}/api/v1/settings", timeout=10).json()
    finally:
        server.stop()
    assert settings["Codec"]["Endpoint"] == endpoint
