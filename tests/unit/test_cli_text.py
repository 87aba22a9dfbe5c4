"""What the operator's commands print is the input's text, never Rich markup read out of it, and
what they record has someone behind it: a dead letter's (possibly forged) bytes and a request id
typed at the prompt are shown literally; `--actor` of an audited command cannot be blank."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import orchestrator.dlq.operate as operate
from orchestrator.cli import app
from orchestrator.dlq._envelope import Original
from orchestrator.dlq._record import DeadLetter
from orchestrator.settings import get_settings
from orchestrator.store import Store

MARKUP = "[/oops] [white on white]hidden[/white on white]"


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}"
    monkeypatch.setenv("DSR_DATABASE_URL", url)
    monkeypatch.setenv("DSR_PAYLOAD_KEYS", "k1:" + base64.b64encode(b"\x01" * 32).decode())
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_a_dead_letters_markup_is_printed_as_text(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It crashed with MarkupError after the read was audited, or restyled what was shown."""
    now = datetime.now(UTC)

    async def read(*_: object) -> tuple[DeadLetter, Original]:
        letter = DeadLetter(
            partition=0,
            offset=7,
            request_id=None,
            reason="not_json",
            detail="not JSON",
            source=None,
            at=now,
            expires_at=now + timedelta(days=1),
            key_id="dlq1",
            sealed=b"",
        )
        original = Original(
            key=MARKUP.encode(), value=f"broken {MARKUP}".encode(), headers=[("ce-id", b"[/x]")]
        )
        return letter, original

    monkeypatch.setattr(operate, "read_dead_letter", read)
    result = CliRunner().invoke(app, ["dlq", "show", "0:7", "--actor", "dpo@example.se"])
    assert result.exit_code == 0, result.output
    assert result.output.count(MARKUP) == 2  # the key and the value, as they are
    assert "ce-id: [/x]" in result.output


def test_an_unknown_request_id_with_markup_is_one_line_naming_it(store_url: str) -> None:
    result = CliRunner().invoke(app, ["show", "seed-zz[/oops]"])
    assert result.exit_code == 1
    assert "no request 'seed-zz[/oops]'" in result.output
    assert "Traceback" not in result.output and "MarkupError" not in result.output


@pytest.mark.parametrize("actor", ["", "   "])
def test_an_audited_command_needs_someone_as_its_actor(store_url: str, actor: str) -> None:
    result = CliRunner().invoke(app, ["shred", "now", "req-0001abcd", "--actor", actor])
    assert result.exit_code == 2 and "--actor" in result.output

    async def trail() -> list[object]:
        async with await Store.open(store_url) as store:
            return list(await store.audit_trail("req-0001abcd"))

    assert asyncio.run(trail()) == []  # nothing was destroyed, nothing recorded
    for command in (["dlq", "show", "0:7"], ["dlq", "redrive", "0:7"]):
        refused = CliRunner().invoke(app, [*command, "--actor", actor])
        assert refused.exit_code == 2 and "--actor" in refused.output


def test_audit_verify_without_a_checkpoint_key_is_refused_as_over_http(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One rule (orchestrator.dpo.verify_audit) for the CLI and the API: asked to check the
    signed checkpoints and given no key, neither says 'ok'."""
    monkeypatch.delenv("DSR_AUDIT_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("DSR_AUDIT_SIGNING_KEY", raising=False)
    get_settings.cache_clear()

    async def migrate() -> None:
        async with await Store.open(store_url):
            pass

    asyncio.run(migrate())
    refused = CliRunner().invoke(app, ["audit", "verify"])
    assert refused.exit_code == 1 and "no key to check checkpoints with" in refused.output
    alone = CliRunner().invoke(app, ["audit", "verify", "--no-checkpoints", "--json"])
    assert alone.exit_code == 0, alone.output
