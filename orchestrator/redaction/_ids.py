"""Which log fields carry validated ids, and when such an id's digits may stay readable.

A request id is validated at intake (`schemas.events.is_valid_request_id`, the `RequestId`
rule: `[A-Za-z0-9_-]{8,64}`, and never only digits and separators with ten or more digits,
the shape of a personnummer, organisation number or phone number). A 10-12-digit run *inside*
such an id (`req-2026-1234567890`) is therefore not personal data, and masking it as
`[id-number]` breaks tracing. So for the fields below, a value that passes that same rule keeps
its digits (names and e-mails are still masked); a value that fails it — a rejected record's
key, `198112189876` — is scrubbed like any text.

Workflow ids are built from a request id by fixed templates (`dsr-<id>`, `dsr-<id>.<suffix>`,
`dsr-<id>-deferred-erasure`, `package-expiry-<id>`): the request id inside is what is checked,
so `dsr-198112189876` is not let through for its `dsr-`. Temporal run ids are UUIDs, trace
and span ids fixed-length hex: generated, never personal.
"""

from __future__ import annotations

import re

from schemas.events import is_valid_request_id

__all__ = ["IdKind", "id_is_safe", "id_kind", "split_workflow_id"]

IdKind = str  # "request" | "workflow" | "run" | "hex"

_REQUEST_FIELDS = frozenset({"request_id", "key", "event_id", "exclude_request_id"})
_WORKFLOW_FIELDS = frozenset({"workflow_id", "parent_workflow_id", "root_workflow_id"})
_RUN_FIELDS = frozenset({"run_id", "workflow_run_id", "parent_run_id", "root_run_id"})
_HEX_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})

# The templates of schemas.workflow.workflow_id_for, workflows.follow_up.follow_up_workflow_id
# and workflows.packaging.expiry_workflow_id (tests/unit/test_privacy.py holds them to it).
WORKFLOW_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("dsr-", "-deferred-erasure"),
    ("package-expiry-", ""),
    ("dsr-", ""),
)
_SUFFIX = re.compile(r"[./]")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")


def id_kind(key: str) -> IdKind | None:
    """The kind of id a field carries, by its name; None for other fields."""
    if key in _REQUEST_FIELDS or key.endswith("_request_id"):
        return "request"
    if key in _WORKFLOW_FIELDS or key.endswith("_workflow_id"):
        return "workflow"
    if key in _RUN_FIELDS or key.endswith("_run_id"):
        return "run"
    if key in _HEX_FIELDS:
        return "hex"
    return None


def split_workflow_id(value: str) -> tuple[str, str, str] | None:
    """(the part built from a request id, the request id, what follows: `.suffix`/`/...`), or
    None when no template with a valid request id fits."""
    cut = _SUFFIX.search(value)
    head, rest = (value[: cut.start()], value[cut.start() :]) if cut else (value, "")
    for prefix, suffix in WORKFLOW_TEMPLATES:
        if head.startswith(prefix) and head.endswith(suffix):
            request_id = head[len(prefix) : len(head) - len(suffix)]
            if is_valid_request_id(request_id):
                return head, request_id, rest
    return None


def id_is_safe(kind: IdKind, value: str) -> bool:
    """Whether the whole value is a validated id of its kind (digits may stay readable)."""
    if kind == "request":
        return is_valid_request_id(value)
    if kind == "workflow":
        split = split_workflow_id(value)
        return split is not None and not split[2]
    if kind == "run":
        return _UUID.fullmatch(value) is not None
    return _HEX.fullmatch(value) is not None
