"""Hostile intake records, generated (hypothesis) and from a fixed corpus, each with the reason
it must be dead-lettered for. Every case is invalid by construction: no mutation here can turn
into an acceptable event by chance (e.g. nulls only where a field is not optional, a body
always differing from the one that was signed)."""

from __future__ import annotations

import contextlib
import copy
import json
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from orchestrator.signing import signature_headers
from schemas.events import DeadLetterReason as R

SIGNING_KEYS = {"portal-1": b"fuzz-signing-secret-one", "portal-2": b"fuzz-signing-secret-two"}
MAX_BYTES = 256 * 1024
SKEW = timedelta(seconds=300)


@dataclass(frozen=True)
class Case:
    family: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    reason: R


_ring: dict[str, bytes] = dict(SIGNING_KEYS)


@contextlib.contextmanager
def signed_with(portal_secret: bytes) -> Iterator[None]:
    """Build cases signed with another deployment's portal-1 secret (a running intake's)."""
    saved = dict(_ring)
    _ring["portal-1"] = portal_secret
    try:
        yield
    finally:
        _ring.clear()
        _ring.update(saved)


def sign(value: bytes, key_id: str = "portal-1") -> list[tuple[str, bytes]]:
    return signature_headers(value, key_id, _ring[key_id])


def valid_document(request_id: str, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return {
        "specversion": "1.0",
        "id": secrets.token_hex(8),
        "source": "urn:portal:fuzz",
        "type": "dsr.requested.v1",
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "request_id": request_id,
            "kind": "erasure",
            "received_at": (now - timedelta(minutes=3)).isoformat(),
            "channel": "portal",
            "subject": {
                "email": "anna.lindqvist@exempel.se",
                "name": "Anna Lindqvist",
                "phone": "+46701234567",
                "domains": ["lindqvist.se"],
            },
            "verification": {"method": "bankid", "verified_at": now.isoformat()},
            "locale": "sv",
        },
    }


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def signed_case(family: str, rid: str, value: bytes, reason: R, key: bytes | None = None) -> Case:
    return Case(family, rid.encode() if key is None else key, value, sign(value), reason)


# Every path of the valid document, the JSON type it holds, and whether null is allowed there.
_ENVELOPE = {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}
_OPTIONAL = {
    ("data", "subject", "name"),
    ("data", "subject", "phone"),
    ("data", "verification", "verified_at"),
}


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*prefix, k))
    return found


_JSON_VALUES: dict[str, Callable[[random.Random], Any]] = {
    "str": lambda r: "".join(r.choice("aZ9 -å\u200b\n") for _ in range(r.randint(0, 20))),
    "int": lambda r: r.randint(-(2**40), 2**40),
    "float": lambda r: r.uniform(-1e12, 1e12),
    "bool": lambda r: r.random() < 0.5,
    "null": lambda r: None,
    "list": lambda r: [r.randint(0, 9) for _ in range(r.randint(0, 3))],
    "object": lambda r: {r.choice("abc"): r.randint(0, 9) for _ in range(r.randint(0, 2))},
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {str: "str", int: "int", float: "float", list: "list", dict: "object"}[type(value)]


def _get(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Any, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _reason_for(path: tuple[str, ...]) -> R:
    return R.NOT_CLOUDEVENT if len(path) == 1 and path[0] in _ENVELOPE else R.SCHEMA_VIOLATION


_TRICKS = [
    "\u0430",  # Cyrillic a
    "\u200b",  # zero-width space
    "\u202e",  # right-to-left override
    "\uff11",  # fullwidth 1
    "\u0661",  # Arabic-Indic 1
    "\u00e9",  # é
    "e\u0301",  # e + combining acute
    "\n",
    "\x00",
    " ",
    "\ufeff",  # BOM
    "\U0001f600",
]


@st.composite
def hostile(draw: st.DrawFn) -> Case:
    """One hostile record. Hypothesis draws only its source of randomness (a truly random one:
    its own integer choices favour small seeds and would repeat records), and the record is
    built from it: a hundred hypothesis draws per record cost ~10 ms, this a fraction of that."""
    return build_hostile(draw(st.randoms(use_true_random=True)))


FAMILIES = (
    "truncated",
    "nested",
    "nested_in_field",
    "nested_extension",
    "wrong_type",
    "unicode_id",
    "unicode_key",
    "huge_value",
    "huge_field",
    "headers",
    "replayed_signature",
    "future_time",
    "naive_time",
    "number_time",
    "out_of_range_time",
    "duplicate_key",
    "not_an_object",
)


def build_hostile(r: random.Random) -> Case:
    rid = f"fz-{r.randint(0, 2**48):012x}"
    now = datetime.now(UTC)
    doc = valid_document(rid, now)
    good = encode(doc)
    family = r.choice(FAMILIES)
    if family == "truncated":
        cut = r.randint(0, len(good) - 1)
        return signed_case(family, rid, good[:cut], R.NOT_JSON)
    if family == "nested":
        opener = r.choice([b"[", b'{"a":', b'{"data":['])
        depth = r.randint(1025, MAX_BYTES // len(opener))
        tail = r.choice([b"", b"1", b"]" * 10])
        return signed_case(family, rid, opener * depth + tail, R.NOT_JSON)
    if family in ("nested_in_field", "nested_extension"):
        # Built as text: encoding 1000 levels with `json` may itself hit the recursion limit.
        levels = [r.random() < 0.5 for _ in range(r.randint(1, 1000))]
        inner = r.choice([b'"x"', b"1", b"null"])
        nested = b"".join(b"[" if lst else b'{"k":' for lst in levels) + inner
        nested += b"".join(b"]" if lst else b"}" for lst in reversed(levels))
        if family == "nested_extension":
            doc["ext"] = _NESTED
            return signed_case(family, rid, _with_nested(doc, nested), R.NOT_CLOUDEVENT)
        path = r.choice([p for p in _paths(doc["data"]) if p])
        _set(doc["data"], path, _NESTED)
        return signed_case(family, rid, _with_nested(doc, nested), R.SCHEMA_VIOLATION)
    if family == "wrong_type":
        path = r.choice(_paths(doc))
        current = _json_type(_get(doc, path))
        allowed = [
            t
            for t in _JSON_VALUES
            if t != current
            and not (t == "null" and path in _OPTIONAL)
            and not (current == "float" and t == "int")
        ]
        replacement = _JSON_VALUES[r.choice(allowed)](r)
        _set(doc, path, replacement)
        return signed_case(f"{family}:{'.'.join(path)}", rid, encode(doc), _reason_for(path))
    if family == "unicode_id":
        trick = r.choice(_TRICKS)
        at = r.randint(0, len(rid))
        tricky = rid[:at] + trick + rid[at:]
        doc["data"]["request_id"] = tricky
        return signed_case(family, rid, encode(doc), R.SCHEMA_VIOLATION, key=tricky.encode())
    if family == "unicode_key":
        if r.random() < 0.2:  # no key at all: a random partition, as bad as a wrong key
            return Case(f"{family}:none", None, good, sign(good), R.KEY_MISMATCH)
        trick = r.choice(_TRICKS)
        at = r.randint(0, len(rid))
        return signed_case(
            family, rid, good, R.KEY_MISMATCH, key=(rid[:at] + trick + rid[at:]).encode()
        )
    if family == "huge_value":
        doc["data"]["subject"]["name"] = "Ö" * r.randint(MAX_BYTES // 2, MAX_BYTES)
        return signed_case(family, rid, encode(doc), R.OVERSIZE)
    if family == "huge_field":
        which = r.choice(["name", "customer_number", "domains", "id", "source"])
        size = r.randint(1, 50_000)
        if which == "name":
            doc["data"]["subject"]["name"] = "A" * (201 + size)
        elif which == "customer_number":
            doc["data"]["subject"]["customer_number"] = "K" * (33 + size)
        elif which == "domains":
            doc["data"]["subject"]["domains"] = [f"d{i}.se" for i in range(501 + size % 5000)]
        else:
            doc[which] = "u" * ((257 if which == "id" else 1025) + size)
            return signed_case(f"{family}:{which}", rid, encode(doc), R.NOT_CLOUDEVENT)
        return signed_case(f"{family}:{which}", rid, encode(doc), R.SCHEMA_VIOLATION)
    if family == "headers":
        headers = sign(good)
        how = r.choice(
            [
                "drop_signature",
                "drop_key_id",
                "empty_signature",
                "unknown_key",
                "flip",
                "other_key",
                "v2",
                "duplicate_last_wrong",
                "truncate",
            ]
        )
        sig = dict(headers)["dsr-signature"]
        reason = R.BAD_SIGNATURE
        if how == "drop_signature":
            headers = [h for h in headers if h[0] != "dsr-signature"]
            reason = R.MISSING_SIGNATURE
        elif how == "drop_key_id":
            headers = [h for h in headers if h[0] != "dsr-key-id"]
            reason = R.MISSING_SIGNATURE
        elif how == "empty_signature":
            headers = [("dsr-key-id", b"portal-1"), ("dsr-signature", b"")]
            reason = R.MISSING_SIGNATURE
        elif how == "unknown_key":
            name = r.choice([b"stolen", b"portal-3", b"portal-1\xff", b"\x00", b"PORTAL-1"])
            name += r.randbytes(r.randint(0, 8))
            headers = [("dsr-key-id", name), ("dsr-signature", sig)]
            reason = R.UNKNOWN_KEY
        elif how == "flip":
            at = r.randint(3, len(sig) - 1)
            flipped = b"0" if sig[at : at + 1] != b"0" else b"1"
            headers = [
                ("dsr-key-id", b"portal-1"),
                ("dsr-signature", sig[:at] + flipped + sig[at + 1 :]),
            ]
        elif how == "other_key":
            headers = [
                ("dsr-key-id", b"portal-1"),
                *[h for h in sign(good, "portal-2") if h[0] == "dsr-signature"],
            ]
        elif how == "v2":
            headers = [("dsr-key-id", b"portal-1"), ("dsr-signature", b"v2=" + sig[3:])]
        elif how == "duplicate_last_wrong":
            headers = [*headers, ("dsr-signature", sig[:-1] + (b"0" if sig[-1:] != b"0" else b"1"))]
        else:
            headers = [
                ("dsr-key-id", b"portal-1"),
                ("dsr-signature", sig[: r.randint(1, len(sig) - 1)]),
            ]
        return Case(f"{family}:{how}", rid.encode(), good, headers, reason)
    if family == "replayed_signature":
        headers = sign(good)
        how = r.choice(["kind", "email", "whitespace", "request_id", "byte"])
        altered = copy.deepcopy(doc)
        if how == "kind":
            altered["data"]["kind"] = "access"
            body = encode(altered)
        elif how == "email":
            altered["data"]["subject"]["email"] = "karin.berg@exempel.se"
            body = encode(altered)
        elif how == "whitespace":
            body = good + b" "
        elif how == "request_id":
            altered["data"]["request_id"] = rid + "x"
            body = encode(altered)
        else:
            at = r.randint(0, len(good) - 1)
            body = good[:at] + bytes([good[at] ^ 0x20]) + good[at + 1 :]
        assert body != good
        return Case(f"{family}:{how}", rid.encode(), body, headers, R.BAD_SIGNATURE)
    if family == "future_time":
        ahead = SKEW + timedelta(seconds=r.randint(5, 10 * 365 * 86400))
        field = r.choice(["received_at", "verified_at"])
        moment = (now + ahead).isoformat()
        if field == "received_at":
            doc["data"]["received_at"] = moment
        else:
            doc["data"]["verification"]["verified_at"] = moment
        return signed_case(f"{family}:{field}", rid, encode(doc), R.SCHEMA_VIOLATION)
    if family == "naive_time":
        where = r.choice(["time", "received_at", "verified_at"])
        moment = datetime(1990, 1, 1) + timedelta(seconds=r.randint(0, 40 * 365 * 86400))
        text = r.choice(
            [
                moment.isoformat(),
                moment.isoformat() + ".5",
                moment.strftime("%Y-%m-%d"),
                moment.strftime("%Y-%m-%dT%H:%M"),
                moment.strftime("%d/%m/%Y %H:%M:%S"),
                moment.strftime("%Y-%m-%dT%H:%M:%S+0100"),
            ]
        )
        return _timed(family, rid, doc, where, text)
    if family == "number_time":
        where = r.choice(["time", "received_at", "verified_at"])
        number: Any = r.choice(
            [r.randint(-(2**33), 2**33), r.uniform(0, 2e9), str(r.randint(0, 2**31)), True]
        )
        return _timed(family, rid, doc, where, number)
    if family == "out_of_range_time":
        # Valid RFC 3339 a conversion cannot represent (year 1 with a positive offset, year
        # 9999 near its end), or a receipt before the GDPR applied (2018-05-25).
        where = r.choice(["time", "received_at", "verified_at"])
        hour = r.randint(0, 22)  # an offset ahead of it is then 1 to 23 hours more
        text = r.choice(
            [
                f"0001-01-01T{hour:02d}:00:00+{r.randint(hour + 1, 23):02d}:00",
                f"9999-12-31T23:{r.randint(0, 59):02d}:00Z",
                f"9999-12-31T{hour + 1:02d}:00:00-{r.randint(23 - hour, 23):02d}:00",
            ]
        )
        if where == "received_at" and r.random() < 0.5:
            before = datetime(2018, 5, 24, 21, 59, 59, tzinfo=UTC)
            text = (before - timedelta(seconds=r.randint(0, 2**31))).isoformat()
        return _timed(family, rid, doc, where, text)
    if family == "duplicate_key":  # a name again in its object: which would a reader believe?
        where = r.choice(["envelope", "data", "subject", "verification"])
        container = {
            "envelope": doc,
            "data": doc["data"],
            "subject": doc["data"]["subject"],
            "verification": doc["data"]["verification"],
        }[where]
        name = r.choice(sorted(container))
        again = r.choice([container[name], "erasure", 1, None, {"x": 1}])  # same or other
        container[_AGAIN] = again
        value = encode(doc).replace(json.dumps(_AGAIN).encode(), json.dumps(name).encode())
        reason = R.NOT_CLOUDEVENT if where == "envelope" else R.SCHEMA_VIOLATION
        return signed_case(f"{family}:{where}", rid, value, reason)
    # not_an_object
    value = r.choice([b"[]", b"1", b'"text"', b"null", b"true", b"[{}]"])
    return signed_case(family, rid, value, R.NOT_CLOUDEVENT)


_NESTED = "\u0000nested\u0000"
_AGAIN = "\u0000again\u0000"


def _with_nested(doc: dict[str, Any], nested: bytes) -> bytes:
    return encode(doc).replace(json.dumps(_NESTED).encode(), nested)


def _timed(family: str, rid: str, doc: dict[str, Any], where: str, value: Any) -> Case:
    if where == "time":
        doc["time"] = value
        return signed_case(f"{family}:{where}", rid, encode(doc), R.NOT_CLOUDEVENT)
    if where == "received_at":
        doc["data"]["received_at"] = value
    else:
        doc["data"]["verification"]["verified_at"] = value
    return signed_case(f"{family}:{where}", rid, encode(doc), R.SCHEMA_VIOLATION)


def corpus() -> list[Case]:
    """Fixed classics, kept so a regression in one of them is named, not found by chance."""
    rid = "fz-corpus-0001"
    doc = valid_document(rid)
    good = encode(doc)
    raw: list[tuple[str, bytes | None, R]] = [
        ("tombstone", None, R.NOT_JSON),
        ("empty", b"", R.NOT_JSON),
        ("brackets_100k", b"[" * 100_000, R.NOT_JSON),
        ("objects_50k", b'{"a":' * 50_000, R.NOT_JSON),
        ("bom", b"\xef\xbb\xbf" + good, R.NOT_JSON),
        ("utf16", json.dumps(doc).encode("utf-16"), R.NOT_JSON),
        ("nan", good.replace(b'"sv"', b"NaN"), R.NOT_JSON),
        ("lone_surrogate", good.replace(b"Anna Lindqvist", b"\\ud800"), R.NOT_JSON),
        ("trailing", good + b"{}", R.NOT_JSON),
        ("comment", b"// hi\n" + good, R.NOT_JSON),
        ("latin1", good.replace(b"anna", "ännä".encode("latin-1")), R.NOT_JSON),
        ("oversize", good + b" " * MAX_BYTES, R.OVERSIZE),
        ("array", b"[" + good + b"]", R.NOT_CLOUDEVENT),
        ("specversion_number", good.replace(b'"1.0"', b"1.0"), R.NOT_CLOUDEVENT),
        (
            "received_at_one",
            encode({**doc, "data": {**doc["data"], "received_at": 1}}),
            R.SCHEMA_VIOLATION,
        ),
        (
            "status_type",
            good.replace(b"dsr.requested.v1", b"dsr.status_changed.v1"),
            R.UNSUPPORTED_TYPE,
        ),
    ]
    cases = [
        Case(f"corpus:{name}", rid.encode(), value, sign(value or b""), reason)
        for name, value, reason in raw
    ]
    cases.append(Case("corpus:unsigned", rid.encode(), good, [], R.MISSING_SIGNATURE))
    return cases
