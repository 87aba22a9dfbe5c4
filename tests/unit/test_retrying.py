"""`connectors.base.retry.retrying`: the first attempt is a plain call, and a failure enters
stamina's loop as its first attempt — so the number of calls, the error that goes up and the
log lines are what the policy says, whether the first call failed or a later one."""

from __future__ import annotations

import logging

import pytest

from connectors.base import PermanentError, RateLimited, SystemUnavailable
from connectors.base.retry import RetryPolicy, retrying

FAST = {"wait_initial": 0.0, "wait_max": 0.0, "wait_jitter": 0.0}
LOG = logging.getLogger("tests.retrying")


class Script:
    """A call that raises the scripted errors in order, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


async def test_a_first_call_that_succeeds_is_made_once() -> None:
    call = Script()
    assert await retrying(RetryPolicy(attempts=4, **FAST), call, where="x", log=LOG) == "answer"
    assert call.calls == 1


async def test_a_failed_first_call_is_retried_by_the_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = Script(SystemUnavailable("billing: 503"), RateLimited("billing: 429", retry_after=0.0))
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        result = await retrying(RetryPolicy(attempts=3, **FAST), call, where="locate", log=LOG)
    assert result == "answer" and call.calls == 3
    assert "attempt 1 of 3" in caplog.text and "attempt 2 of 3" in caplog.text
    assert "attempt 3" not in caplog.text


async def test_attempts_run_out_and_the_last_error_goes_up() -> None:
    errors = [SystemUnavailable(f"billing: 503 #{n}") for n in range(1, 4)]
    call = Script(*errors, SystemUnavailable("never reached"))
    with pytest.raises(SystemUnavailable) as raised:
        await retrying(RetryPolicy(attempts=3, **FAST), call, where="x", log=LOG)
    assert raised.value is errors[-1] and call.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("billing: 404"),
        RateLimited("billing: 429", retry_after=31.0),  # past the cap: Temporal's to wait
    ],
    ids=["permanent", "retry-after-over-cap"],
)
async def test_an_error_the_policy_does_not_retry_goes_up_after_one_call(
    error: Exception,
) -> None:
    call = Script(error)
    with pytest.raises(type(error)) as raised:
        await retrying(
            RetryPolicy(attempts=4, retry_after_cap=30.0, **FAST), call, where="x", log=LOG
        )
    assert raised.value is error and call.calls == 1


async def test_one_attempt_means_no_retry() -> None:
    call = Script(SystemUnavailable("billing: 503"))
    with pytest.raises(SystemUnavailable):
        await retrying(RetryPolicy(attempts=1, **FAST), call, where="x", log=LOG)
    assert call.calls == 1


async def test_an_error_that_is_not_a_connector_error_is_never_retried() -> None:
    call = Script(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await retrying(RetryPolicy(attempts=4, **FAST), call, where="x", log=LOG)
    assert call.calls == 1
