"""stamina's retries are logged by the error's type only: never its text nor the call's
arguments, which can name the subject (a connector looking a person up by e-mail)."""

from __future__ import annotations

import json

import pytest
import stamina

from orchestrator.logging import configure_logging


class _LookupFailed(Exception):
    pass


def test_a_retry_log_line_names_the_error_type_not_its_text_or_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    calls: list[str] = []

    @stamina.retry(on=_LookupFailed, attempts=2, wait_initial=0.0, wait_jitter=0.0)
    def lookup(email: str) -> str:
        calls.append(email)
        if len(calls) == 1:
            raise _LookupFailed(f"no contact for {email} (Ali Hassan)")
        return "found"

    assert lookup("anna.svensson@example.se") == "found"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    retries = [line for line in lines if line.get("event") == "retry_scheduled"]
    assert len(retries) == 1
    assert retries[0]["error_type"] == "_LookupFailed"
    assert retries[0]["retry_num"] == 1
    rendered = json.dumps(lines)
    assert "anna.svensson" not in rendered
    assert "Hassan" not in rendered
    assert "caused_by" not in rendered
