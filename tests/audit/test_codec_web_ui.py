"""The Temporal Web UI in a real browser (Debian's Chromium via Playwright) against the dev
server `dsr up` starts (`--ui-codec-endpoint`): a workflow's input stays ciphertext until the
DPO signs in at the codec server, then the UI shows it decrypted — and the audit trail names
the DPO. Screenshots of both states: .state/test-artifacts/codec/."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from playwright.async_api import async_playwright
from temporalio.client import Client

from devstack.localstack import free_port, temporal_dev_server, wait_until
from orchestrator.auth import TokenVerifier, hash_token, parse_api_tokens
from orchestrator.codec import AesGcmCodec, encrypted_data_converter
from orchestrator.codec_server import create_codec_app
from orchestrator.datakeys import DataKeyRing
from orchestrator.settings import Settings
from orchestrator.store import Store
from schemas.records import AuditAction

CHROMIUM = Path("/usr/lib/chromium/chromium")
MARKER = "Anna Lindqvist"
WORKFLOW_ID = "dsr-req-webui-0001"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".state" / "test-artifacts" / "codec"
UI_LOAD = 120_000  # ms: the Web UI is a large single-page app, slow on a busy machine

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing")


@contextlib.asynccontextmanager
async def serve(app: FastAPI, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await asyncio.to_thread(wait_until, lambda: server.started, 30, "codec server")
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def test_web_ui_decrypts_only_after_the_dpo_signs_in(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    token = f"dpo-{os.urandom(16).hex()}"
    temporal_port, ui_port, codec_port = free_port(), free_port(), free_port()
    ui, codec_url = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{codec_port}"
    settings = Settings(
        payload_keys=keys,
        api_tokens=f"dpo-anna:dpo:{hash_token(token)}",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        codec_cors_origins=ui,
    )
    temporal = await asyncio.to_thread(
        temporal_dev_server,
        temporal_port,
        tmp_path / "temporal.db",
        tmp_path,
        ui_port=ui_port,
        ui_codec_endpoint=codec_url,
    )
    store = await Store.open(settings.database_url)
    # The request's payloads are sealed with its data key (never the master key), which the
    # codec server finds in the same store.
    keys = DataKeyRing(settings.payload_key_ring(), settings.database_url)
    app = create_codec_app(
        settings,
        AesGcmCodec(settings.payload_key_ring(), data_keys=keys),
        TokenVerifier(parse_api_tokens(settings.api_tokens.get_secret_value())),
        store,
    )
    answers: Counter[int] = Counter()

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.method == "POST" and request.url.path == "/decode":
            answers[response.status_code] += 1
        return response

    try:
        client = await Client.connect(
            f"127.0.0.1:{temporal_port}",
            data_converter=encrypted_data_converter(settings.payload_key_ring(), keys),
        )
        await client.start_workflow(
            "DsrWorkflowV2",
            {"request_id": "req-webui-0001", "subject": MARKER},
            id=WORKFLOW_ID,
            task_queue="no-worker-needed",
        )
        async with serve(app, codec_port), async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
            page = await browser.new_page()
            workflow_page = f"{ui}/namespaces/default/workflows/{WORKFLOW_ID}"

            await page.goto(workflow_page)
            await page.wait_for_selector(f"text={WORKFLOW_ID}", timeout=UI_LOAD)
            await asyncio.to_thread(wait_until, lambda: answers[401] >= 1, 60, "a 401")
            await page.screenshot(path=str(ARTIFACTS / "web-ui-ciphertext.png"), full_page=True)
            assert MARKER not in await page.content()

            await page.goto(f"{codec_url}/login")
            await page.fill("input[name=token]", token)
            await page.click("button[type=submit]")
            assert "dpo-anna" in await page.inner_text("h1")
            # What the UI's Codec Server settings store when "Include cross-origin
            # credentials" is ticked (browser-local, persisted in localStorage).
            await page.goto(ui)
            await page.evaluate(
                """(endpoint) => {
                        localStorage.setItem('endpoint', JSON.stringify(endpoint));
                        localStorage.setItem('includeCredentials', 'true');
                        localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
                    }""",
                codec_url,
            )
            await page.goto(workflow_page)
            await page.wait_for_selector(f"text={MARKER}", timeout=UI_LOAD)
            await page.screenshot(path=str(ARTIFACTS / "web-ui-decrypted.png"), full_page=True)
            await browser.close()
    finally:
        await asyncio.to_thread(temporal.stop)
    trail = await store.audit_trail("req-webui-0001")
    await store.close()
    assert trail and {(e.action, e.actor) for e in trail} == {
        (AuditAction.PAYLOAD_DECRYPTED, "dpo-anna")
    }
    assert answers[200] >= 1
