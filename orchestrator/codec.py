"""AES-256-GCM payload codec: Temporal's history never holds personal data in the clear, and a
request's history can be made unreadable on its own (crypto-shredding).

Two formats, both always decodable:

- `binary/encrypted-aes256gcm` (v1): sealed with a master key of DSR_PAYLOAD_KEYS, key id in
  the metadata (rotation: keep retired keys in the ring until they drain). The committed v1
  histories use it, and so does everything that belongs to no request (schedules, the package
  expiry timer).
- `binary/encrypted-aes256gcm-dk` (v2): sealed with the request's own data key (see
  `orchestrator.datakeys`), the request id in the metadata. Destroying that key makes every
  such payload — inputs, results, failure messages, query answers — unreadable.

How the codec knows the request: Temporal gives every codec call a serialization context
(`with_context`): the workflow id of the workflow the payload belongs to, for workflow inputs,
signals, updates, queries, child workflows and activities alike, in the client (intake, CLI)
and in the worker. The workflow id of a request is `dsr-<request_id>` (`workflow_id_for`;
descendant workflows that carry its data use `dsr-<request_id>.<suffix>`), so the request id
is parsed from it — no interceptor, no extra state in workflows, and nothing added to the
history. Decoding needs no context at all: the request id travels in the payload's metadata.
Per payload the cost is one AES-GCM operation with a cached cipher, as before; a process fetches
and unwraps each request's key once (one indexed read), then serves it from memory.

A codec without a key ring (`AesGcmCodec(keys)`) refuses to encode a payload for a request's
workflow (`DataKeyRingRequired`) instead of sealing it with the master key: the master key
outlives every request, so such a payload — a DPO's `dsr narrow --value <personnummer>`, say —
would stay readable after the request is shredded, and nobody would notice. It still decodes
everything, and still encodes for workflows that belong to no request.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from typing import Self, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message
from temporalio.api.common.v1 import Header, Payload
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from orchestrator.datakeys import DataKeyDestroyed, DataKeyMissing, DataKeyRing

__all__ = [
    "DATA_KEY_ENCODING",
    "ENCODING",
    "AesGcmCodec",
    "DataKeyRingRequired",
    "PayloadKeyMissing",
    "PayloadShredded",
    "encrypted_data_converter",
    "nested_payloads",
    "request_id_of_workflow",
    "reseal_under_master_key",
]

ENCODING = b"binary/encrypted-aes256gcm"
DATA_KEY_ENCODING = b"binary/encrypted-aes256gcm-dk"
_NONCE_BYTES = 12
_REQUEST_WORKFLOW = re.compile(r"^dsr-(?P<request_id>[A-Za-z0-9_-]{8,64})(?:[./].*)?$")
# Workflows that belong to a request but must outlive its data key, and carry no personal data:
# the deferred erasure (record refs only, years later; workflows/follow_up.py). Master key.
_UNSCOPED_SUFFIXES = ("-deferred-erasure",)


class PayloadKeyMissing(Exception):
    """A payload was encrypted with a key this process does not have."""


class PayloadShredded(PayloadKeyMissing):
    """A payload of a request whose data key was destroyed: unreadable by design."""


class DataKeyRingRequired(Exception):
    """A payload for a request's workflow, in a process without the store's data keys: it is
    refused rather than sealed with the master key, which would never be shredded."""


def request_id_of_workflow(workflow_id: str | None) -> str | None:
    """The request a workflow id belongs to (`dsr-<request_id>[.<suffix>]`), else None."""
    if not workflow_id or workflow_id.endswith(_UNSCOPED_SUFFIXES):
        return None
    match = _REQUEST_WORKFLOW.match(workflow_id)
    return match["request_id"] if match else None


class AesGcmCodec(PayloadCodec, WithSerializationContext):
    """Master-key codec; with a `DataKeyRing`, payloads of a request use the request's key."""

    def __init__(
        self,
        keys: dict[str, bytes],
        active_key_id: str | None = None,
        *,
        data_keys: DataKeyRing | None = None,
        request_id: str | None = None,
    ) -> None:
        if not keys:
            raise ValueError("at least one payload key is required (DSR_PAYLOAD_KEYS)")
        self._keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active_key_id or next(iter(keys))
        self._data_keys = data_keys
        # Bound to a request even without a ring: then it refuses to encode (never master key).
        self._request_id = request_id
        self._bound: dict[str, AesGcmCodec] = {}
        self._root_codec: AesGcmCodec | None = None

    @property
    def request_id(self) -> str | None:
        """The request whose data key this codec encrypts with (None: the master key). Without
        a key ring, the request it refuses to encode for."""
        return self._request_id

    def with_context(self, context: SerializationContext) -> AesGcmCodec:
        workflow_id = (
            context.workflow_id
            if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext)
            else None
        )
        request_id = request_id_of_workflow(workflow_id)
        if request_id == self._request_id:
            return self
        if request_id is None:
            return self._root()
        root = self._root()
        bound = root._bound.get(request_id)
        if bound is None:
            if len(root._bound) > 4096:
                root._bound.clear()
            bound = AesGcmCodec(
                self._keys, self._active, data_keys=self._data_keys, request_id=request_id
            )
            bound._root_codec = root
            root._bound[request_id] = bound
        return bound

    def _root(self) -> AesGcmCodec:
        return self._root_codec or self

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self._request_id is not None and self._data_keys is None:
            raise DataKeyRingRequired(
                f"payloads of request {self._request_id!r} are sealed with its data key, and this "
                "codec has no key store: refusing to seal them with the master key"
            )
        if self._request_id is not None and self._data_keys is not None:
            try:
                keys = await self._data_keys.keys_for(self._request_id, create=True)
            except DataKeyDestroyed:
                raise PayloadShredded(
                    f"request {self._request_id!r} is shredded: nothing more is sealed for it"
                ) from None
            except DataKeyMissing as missing:
                raise PayloadKeyMissing(str(missing)) from None
            aad = b"dk:" + self._request_id.encode()
            metadata = {"encoding": DATA_KEY_ENCODING, "encryption-request": aad[3:]}
            return [
                Payload(metadata=metadata, data=_seal(keys.payload, p.SerializeToString(), aad))
                for p in payloads
            ]
        cipher = self._ciphers[self._active]
        key_id = self._active.encode()
        encoded = []
        for payload in payloads:
            # The key id is authenticated as associated data: swapping it breaks decryption.
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, "encryption-key-id": key_id},
                    data=_seal(cipher, payload.SerializeToString(), key_id),
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            encoding = payload.metadata.get("encoding")
            if encoding == DATA_KEY_ENCODING:
                decoded.append(await self._decode_request_payload(payload))
            elif encoding == ENCODING:
                key_id = payload.metadata.get("encryption-key-id", b"").decode()
                cipher = self._ciphers.get(key_id)
                if cipher is None:
                    raise PayloadKeyMissing(f"no payload key with id {key_id!r}")
                decoded.append(Payload.FromString(_open(cipher, payload.data, key_id.encode())))
            else:
                decoded.append(payload)
        return decoded

    async def _decode_request_payload(self, payload: Payload) -> Payload:
        request_id = payload.metadata.get("encryption-request", b"").decode()
        if self._data_keys is None:
            raise PayloadKeyMissing(
                f"payload of request {request_id!r} needs its data key (no key store configured)"
            )
        try:
            keys = await self._data_keys.keys_for(request_id)
        except DataKeyDestroyed:
            raise PayloadShredded(f"the data key of request {request_id!r} was destroyed") from None
        except DataKeyMissing as missing:
            raise PayloadKeyMissing(str(missing)) from None
        try:
            return Payload.FromString(
                _open(keys.payload, payload.data, b"dk:" + request_id.encode())
            )
        except InvalidTag:
            raise PayloadKeyMissing(f"payload of request {request_id!r} does not decrypt") from None


def _seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plaintext, aad)


def _open(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    return cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)


@dataclasses.dataclass(frozen=True)
class _ContextCachingDataConverter(DataConverter):
    """`DataConverter.with_context` clones the converter (and builds a new payload converter)
    on every call — about 40 µs, several times per workflow activation once the codec is
    context-aware. Contexts are small frozen values that repeat (one per workflow, one per
    activity), so the clones are cached; clones share the cache."""

    context_cache: dict[SerializationContext, DataConverter] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def with_context(self, context: SerializationContext) -> Self:
        cached = self.context_cache.get(context)
        if cached is None:
            if len(self.context_cache) >= _CONTEXT_CACHE_SIZE:
                self.context_cache.clear()
            cached = super().with_context(context)
            self.context_cache[context] = cached
        return cast(Self, cached)


_CONTEXT_CACHE_SIZE = 4096


def encrypted_data_converter(
    keys: dict[str, bytes], data_keys: DataKeyRing | None = None
) -> DataConverter:
    """Pydantic-aware converter whose payloads and failure messages are encrypted; with
    `data_keys`, each request's payloads with that request's own data key. Without, it reads
    everything but writes nothing for a request's workflow (`DataKeyRingRequired`): fine for a
    replayer or a tool that only reads, never for a client that sends a request anything."""
    if data_keys is None:
        return dataclasses.replace(
            pydantic_data_converter,
            payload_codec=AesGcmCodec(keys),
            failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        )
    return _ContextCachingDataConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=AesGcmCodec(keys, data_keys=data_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def nested_payloads(message: Message, in_header: bool = False) -> list[tuple[Payload, bool]]:
    """Every Payload inside a protobuf message (history events nest them at many depths), and
    whether it sits in a Header (Temporal does not pass headers through the codec)."""
    if isinstance(message, Payload):
        return [(message, in_header)]
    in_header = in_header or isinstance(message, Header)
    found: list[tuple[Payload, bool]] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if isinstance(value, Message):
            found.extend(nested_payloads(value, in_header))
            continue
        # A repeated message field, or a map of messages (e.g. header and memo fields).
        for item in value.values() if hasattr(value, "values") else value:
            if isinstance(item, Message):
                found.extend(nested_payloads(item, in_header))
    return found


async def reseal_under_master_key(history: WorkflowHistory, codec: PayloadCodec) -> WorkflowHistory:
    """The history with every per-request payload re-sealed under the master key (v1), for
    committing as a replay fixture: the request's data key lives in a test store that is gone
    by the time the replay test runs. `codec` must be able to decode them (an AesGcmCodec
    with the recording store's key ring, e.g. `client.data_converter.payload_codec`)."""
    if not isinstance(codec, AesGcmCodec):
        raise TypeError("reseal needs the AesGcmCodec that sealed the history")
    master = AesGcmCodec(codec._keys, codec._active)
    events = []
    for event in history.events:
        event = type(event).FromString(event.SerializeToString())  # a copy to rewrite
        for payload, _ in nested_payloads(event):
            if payload.metadata.get("encoding") == DATA_KEY_ENCODING:
                (plain,) = await codec.decode([payload])
                (sealed,) = await master.encode([plain])
                payload.CopyFrom(sealed)
        events.append(event)
    return WorkflowHistory(history.workflow_id, events)
