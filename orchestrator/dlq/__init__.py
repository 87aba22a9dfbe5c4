"""The dead-letter queue: sealed (encrypted) values, clear triage headers, reading and expiry.

Every record the intake cannot accept ends here with a reason. Nothing on the topic is
readable without a payload key (`DSR_PAYLOAD_KEYS`, key id in the envelope for rotation) or,
for a record naming a request, that request's data key (`dk:<request id>`: shredded with the
request, see `_sealing`), and nothing is readable after its expiry (`DSR_DLQ_RETENTION_DAYS`,
default 30): the topic is created with that `retention.ms`, and the envelope carries the
expiry so `dsr dlq show` refuses an expired record even where the broker keeps it longer.
"""

from __future__ import annotations

from orchestrator.dlq._envelope import (
    DlqExpired,
    DlqKeyMissing,
    DlqUnreadable,
    Original,
    SourcePosition,
    open_sealed,
)
from orchestrator.dlq._record import (
    DLQ_HEADERS,
    DeadLetter,
    OutgoingDeadLetter,
    build_dead_letter,
    request_id_shaped,
)
from orchestrator.dlq._sealing import (
    DeadLetterSealer,
    DlqShredded,
    opening_keys,
    request_of_key_id,
)
from orchestrator.dlq._topic import declare_dlq_topic, fetch_dead_letter, read_dead_letters

__all__ = [
    "DLQ_HEADERS",
    "DeadLetter",
    "DeadLetterSealer",
    "DlqExpired",
    "DlqKeyMissing",
    "DlqShredded",
    "DlqUnreadable",
    "Original",
    "OutgoingDeadLetter",
    "SourcePosition",
    "build_dead_letter",
    "declare_dlq_topic",
    "fetch_dead_letter",
    "open_sealed",
    "opening_keys",
    "read_dead_letters",
    "request_id_shaped",
    "request_of_key_id",
]
