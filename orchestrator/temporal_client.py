"""One way to connect to Temporal: encrypted payloads, pydantic models, the configured namespace."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, overload

import stamina
from temporalio.client import Client
from temporalio.service import TLSConfig

from orchestrator.codec import encrypted_data_converter
from orchestrator.datakeys import DataKeyRing
from orchestrator.logging import get_logger
from orchestrator.settings import InvalidSettings, Settings

__all__ = [
    "TemporalUnreachable",
    "connect_temporal",
    "connect_temporal_retrying",
    "temporal_connection_options",
    "temporal_runtime_started",
]

log = get_logger(__name__)

# Backoff between connection attempts (capped exponential with jitter, stamina's): quick while a
# stack is starting, at most every 10 s during a longer outage.
CONNECT_WAIT_INITIAL = 0.5
CONNECT_WAIT_MAX = 10.0

# Set once this process has asked the SDK for a client: from then on its Rust core's threads
# exist, and the process must not end through interpreter finalization (see
# `orchestrator.shutdown.exit_skipping_finalization`).
_runtime_started = False


def temporal_runtime_started() -> bool:
    """Whether this process has started the Temporal SDK's native runtime (a client, or an
    attempt at one)."""
    return _runtime_started


class TemporalUnreachable(RuntimeError):
    """No connection to the Temporal server (refused, timed out, TLS failed). A RuntimeError,
    as the SDK raises it: whoever retried on that still does. The message names the address
    and the kind of failure only, for a one-line error in the CLI."""


def _connect_failure(address: str, error: RuntimeError) -> TemporalUnreachable:
    text = str(error)
    kind = next(
        (
            what
            for marker, what in (
                ("Connection refused", "connection refused"),
                ("timed out", "timed out"),
                ("dns error", "name not resolved"),
                ("tls", "TLS handshake failed"),
                ("certificate", "TLS handshake failed"),
            )
            if marker.lower() in text.lower()
        ),
        "connection failed",
    )
    return TemporalUnreachable(f"Temporal is unreachable at {address} ({kind})")


def _read(variable: str, path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        raise InvalidSettings(f"invalid setting {variable}: cannot read the file") from None


def temporal_connection_options(settings: Settings) -> dict[str, Any]:
    """How to reach a production Temporal cluster: TLS verified against DSR_TEMPORAL_TLS_CA_FILE
    (or the system's CAs), mutual TLS with DSR_TEMPORAL_TLS_CERT_FILE + _KEY_FILE, and/or an
    API key (which turns TLS on, as the SDK does). Plain TCP when none is set (the local stack).
    """
    files = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_cert_file,
        settings.temporal_tls_key_file,
    )
    tls: TLSConfig | None = None
    if settings.temporal_tls or any(f is not None for f in files):
        if (settings.temporal_tls_cert_file is None) != (settings.temporal_tls_key_file is None):
            raise InvalidSettings(
                "invalid setting DSR_TEMPORAL_TLS_CERT_FILE: client certificate and key go together"
            )
        tls = TLSConfig(
            server_root_ca_cert=_read("DSR_TEMPORAL_TLS_CA_FILE", settings.temporal_tls_ca_file),
            client_cert=_read("DSR_TEMPORAL_TLS_CERT_FILE", settings.temporal_tls_cert_file),
            client_private_key=_read("DSR_TEMPORAL_TLS_KEY_FILE", settings.temporal_tls_key_file),
            domain=settings.temporal_tls_server_name,
        )
    api_key = settings.temporal_api_key
    return {
        # None: the SDK's default, TLS exactly when an API key is given.
        "tls": tls if tls is not None else (None if api_key else False),
        "api_key": api_key.get_secret_value() if api_key else None,
    }


def _data_keys(settings: Settings, *, creates: bool) -> DataKeyRing:
    """The store's data keys, always: DSR_DATABASE_URL as configured, or its default (the
    local `sqlite+aiosqlite:///dsr.db`, the store `dsr worker` itself uses when none is set).

    Any client may put payloads into a request's history (`dsr narrow --value <personnummer>`,
    the API's decisions, the intake's workflow input), and those must be sealed with the
    request's data key to be shredded with it. This used to return None unless the URL was set
    explicitly, so a DPO's shell without DSR_DATABASE_URL sealed such a payload with the master
    key, silently, and it stayed readable after `dsr shred now`. The ring opens the store at
    its first use only: a client that seals or opens nothing of a request's never touches it.
    A DPO's tool (`creates_keys=False`) only finds a request's key or refuses
    (`DataKeyRing(creates=False)`); a client that starts requests makes it."""
    return DataKeyRing(settings.payload_key_ring(), settings.database_url, creates=creates)


async def connect_temporal(
    settings: Settings, data_keys: DataKeyRing | None = None, *, creates_keys: bool = True
) -> Client:
    """`data_keys`: share a process's key ring (and its cache) with the client's codec.
    `creates_keys`: without `data_keys`, whether this client makes the data keys of the
    requests it writes to (the intake, the reconciler and tests, which start them), or only uses
    existing ones (False: a DPO's decisions, from the CLI or the desk, into running requests)."""
    if not settings.payload_key_ring():
        raise InvalidSettings("invalid setting DSR_PAYLOAD_KEYS: required (id:base64key[,…])")
    options = temporal_connection_options(settings)  # TLS / mTLS / API key (DSR_TEMPORAL_*)
    # Each request's payloads under its own data key (crypto-shredding, orchestrator.codec).
    converter = encrypted_data_converter(
        settings.payload_key_ring(), data_keys or _data_keys(settings, creates=creates_keys)
    )
    global _runtime_started
    _runtime_started = True  # the SDK creates its runtime on the first connect, failed or not
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=converter,
            **options,
        )
    except RuntimeError as error:
        if not str(error).startswith("Failed client connect"):
            raise
        raise _connect_failure(settings.temporal_address, error) from None


@overload
async def connect_temporal_retrying(
    settings: Settings,
    data_keys: DataKeyRing | None = None,
    *,
    stop: None = None,
    creates_keys: bool = True,
) -> Client: ...
@overload
async def connect_temporal_retrying(
    settings: Settings,
    data_keys: DataKeyRing | None = None,
    *,
    stop: asyncio.Event,
    creates_keys: bool = True,
) -> Client | None: ...
async def connect_temporal_retrying(
    settings: Settings,
    data_keys: DataKeyRing | None = None,
    *,
    stop: asyncio.Event | None = None,
    creates_keys: bool = True,
) -> Client | None:
    """`connect_temporal`, retried with backoff while Temporal is unreachable (the SDK raises
    RuntimeError for a refused or failed connection): a worker started before its server (`dsr
    up` starts them together; a cluster restarting) waits instead of exiting and taking the
    stack down with it. Retries forever (cancel it to stop); with `stop`, returns None as soon
    as `stop` is set (SIGTERM).
    Bad settings (InvalidSettings) are not retried. Logs the error's type, never its text."""

    async def patiently() -> Client:
        async for attempt in stamina.retry_context(
            on=RuntimeError,
            attempts=None,
            timeout=None,
            wait_initial=CONNECT_WAIT_INITIAL,
            wait_max=CONNECT_WAIT_MAX,
        ):
            with attempt:
                try:
                    return await connect_temporal(settings, data_keys, creates_keys=creates_keys)
                except RuntimeError as error:
                    log.warning(
                        "temporal unreachable, retrying",
                        attempt=attempt.num,
                        retry_in=round(attempt.next_wait, 2),
                        error_type=type(error).__name__,
                    )
                    raise
        raise AssertionError("stamina retries without an attempt limit")  # pragma: no cover

    connecting = asyncio.ensure_future(patiently())
    if stop is None:
        return await connecting
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if connecting.done():
        return connecting.result()
    connecting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await connecting
    return None
