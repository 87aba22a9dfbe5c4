"""Clean, bounded shutdown for every long-running process (`dsr worker`, `dsr intake`, the API,
`dsr up` and its children).

Why this module exists: supervisors (systemd, Kubernetes, CI timeouts, `kill`) send SIGTERM, not
Ctrl-C, and a process started in the background by a non-interactive shell never even sees
SIGINT as KeyboardInterrupt (LOCAL-INFRA.md, "Signals and process groups"). So every service:

1. handles SIGTERM and SIGINT explicitly (`install_stop_handlers`) by *draining*: finish what
   is in hand, acknowledge nothing half-done, close connections;
2. arms a watchdog when the drain starts (`exit_after`), so a drain that hangs (a broker that
   vanished, a library that never returns) still ends the process within a bounded time —
   everything here is crash-safe by design (Temporal retries activities, the intake commits
   only acknowledged offsets), so a forced exit loses nothing;
3. when started by a supervisor, dies with it even if the supervisor is killed -9
   (`parent_death_preexec`, Linux `PR_SET_PDEATHSIG`).

Usage in an asyncio service::

    stop = asyncio.Event()
    install_stop_handlers(asyncio.get_running_loop(), stop.set, deadline=settings.shutdown_timeout)
    await stop.wait()
    ...drain...

For uvicorn (the API, the codec server): `run_uvicorn(app, host=..., port=...,
deadline=settings.shutdown_timeout)` — uvicorn drains in-flight requests on SIGTERM/SIGINT
(its `timeout_graceful_shutdown`) and the watchdog bounds the rest.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

__all__ = [
    "STOP_SIGNALS",
    "exit_after",
    "exit_skipping_finalization",
    "install_stop_handlers",
    "parent_death_preexec",
    "run_uvicorn",
    "set_parent_death_signal",
]

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
# Exit status of a process whose drain overran its deadline (EX_SOFTWARE would mislead; 124 is
# what `timeout(1)` uses for "timed out", which is what happened).
DEADLINE_EXIT_STATUS = 124
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_watchdog_lock = threading.Lock()
_watchdog: threading.Timer | None = None


def exit_after(seconds: float, status: int = DEADLINE_EXIT_STATUS) -> None:
    """Hard-exit the process if it is still alive `seconds` from now (idempotent: the first
    call's deadline stands). A daemon timer thread, so it needs no event loop that might be
    the very thing that hangs."""
    global _watchdog
    with _watchdog_lock:
        if _watchdog is not None:
            return

        def expire() -> None:
            with contextlib.suppress(Exception):
                sys.stderr.write(f"shutdown did not finish within {seconds:.0f}s; exiting\n")
                sys.stderr.flush()
            os._exit(status)

        _watchdog = threading.Timer(seconds, expire)
        _watchdog.daemon = True
        _watchdog.start()


def exit_skipping_finalization(status: int) -> None:
    """End the process with `status` after the exit handlers ran, but without CPython's
    interpreter finalization.

    Why: the Temporal SDK's Rust core keeps native threads that call back into Python; when the
    interpreter finalizes under them, CPython aborts the process ("PyGILState_Release: thread
    state … must be current … runtime state: finalizing", SIGABRT) — temporalio/sdk-python#300,
    open, with no client close to call. A `dsr approve` that did its work then died with
    status -6 and a fatal error on stderr, intermittently. Everything a normal exit would
    still do for us happens here first, in its order: waiting for the Python threads that are
    not daemons (and concurrent.futures' exit hooks), `atexit` callbacks (logging's flush among
    them), the standard streams' buffers."""
    threading._shutdown()  # type: ignore[attr-defined]  # private, what exit runs first
    atexit._run_exitfuncs()  # private but stable since 3.0: the exit handlers, as exit runs them
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe must not change status
            stream.flush()
    os._exit(status)


def install_stop_handlers(
    loop: asyncio.AbstractEventLoop,
    stop: Callable[[], None],
    *,
    deadline: float | None,
    signals: Iterable[signal.Signals] = STOP_SIGNALS,
) -> None:
    """On any of `signals`, call `stop` (start draining) and arm the exit watchdog. A second
    signal during the drain changes nothing: the deadline already bounds it."""

    def on_signal() -> None:
        if deadline is not None:
            exit_after(deadline)
        stop()

    for sig in signals:
        # NotImplementedError: no signal support on this loop; RuntimeError: not the main thread
        # (e.g. a test running the service inside its own loop) — the caller's `stop` still works.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)


def set_parent_death_signal(sig: signal.Signals = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent thread dies (Linux only;
    False elsewhere). Inherited by nothing: every level of a process tree sets its own."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)


def parent_death_preexec(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen`: the child gets `sig` when this process dies,
    also by SIGKILL. If the parent died between fork and prctl, the child exits at once.

    The kernel ties the signal to the *thread* that forked, so only use this from a thread that
    lives as long as the process (the main thread); `ManagedProcess` checks that."""
    parent = os.getpid()

    def preexec() -> None:
        set_parent_death_signal(sig)
        if os.getppid() != parent:  # orphaned already: the signal will never come
            os._exit(1)

    return preexec


def _exit_cleanly(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def run_uvicorn(app: Any, *, host: str, port: int, deadline: float, **options: Any) -> None:
    """Serve an ASGI app until SIGTERM/SIGINT: in-flight requests get most of `deadline` to
    finish, the watchdog ends the process at `deadline` whatever happens, and a drained
    server exits with status 0.

    Why the handlers: uvicorn drains on SIGTERM/SIGINT, then re-raises the signal under the
    handler that was there before it started. The default one killed the drained process by
    the signal (`dsr codec-server` ended with status 143, its exit handlers skipped); this one
    is a clean exit (status 0, buffers flushed, `atexit` run)."""
    import uvicorn

    if threading.current_thread() is threading.main_thread():  # signal.signal's condition
        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, _exit_cleanly)

    class _BoundedServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            exit_after(deadline)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        timeout_graceful_shutdown=max(1, int(deadline * 0.8)),
        **options,
    )
    _BoundedServer(config).run()
