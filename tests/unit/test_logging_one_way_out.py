"""Every logger's records go through the redacting pipeline, even one a library configured with
a handler of its own before `configure_logging` ran (uvicorn's default log config does that to
`uvicorn.error`, with propagation off): such a handler would write personal data around it."""

from __future__ import annotations

import logging
import logging.config

import pytest
from uvicorn.config import LOGGING_CONFIG

from orchestrator.logging import configure_logging


def test_a_library_handler_installed_earlier_cannot_bypass_the_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.config.dictConfig(LOGGING_CONFIG)  # what an in-process uvicorn.Config does
    assert logging.getLogger("uvicorn").handlers  # and propagate off: uvicorn.error ends there
    configure_logging("INFO", "json")
    capsys.readouterr()
    logging.getLogger("uvicorn.error").warning("lookup for %s failed", "anna.svensson@example.se")
    err = capsys.readouterr().err
    assert "lookup for" in err
    assert "anna.svensson@example.se" not in err
    assert "[email]" in err
