"""Event contract v1 between the customer portal and the orchestrator (fixed: the portal builds
on it).

Topics:
- `dsr.requests.v1`      key = request id, value = `DsrRequestedEvent` (CloudEvents 1.0,
                         structured JSON), headers `dsr-key-id` and
                         `dsr-signature: v1=<hex HMAC-SHA256 of the value>`.
- `dsr.requests.v1.dlq`  the original value and headers, plus `dsr-dlq-*` headers
                         (`DeadLetterReason`).
- `dsr.status.v1`        key = request id, value = `DsrStatusChangedEvent`; never personal data.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from schemas.identifiers import (
    E164_PATTERN,
    is_valid_organisation_number,
    is_valid_personal_identity_number,
)
from schemas.package import PackageRef
from schemas.status import Extension, RequestStatus, RestrictionNotice, SystemStatus

__all__ = [
    "REQUESTED_TYPE",
    "RESERVED_REQUEST_ID_SUFFIX",
    "STATUS_CHANGED_TYPE",
    "Channel",
    "CloudEvent",
    "DeadLetterReason",
    "DsrRequestedData",
    "DsrRequestedEvent",
    "DsrStatusChangedData",
    "DsrStatusChangedEvent",
    "FieldChange",
    "Locale",
    "Rectification",
    "RequestKind",
    "Scope",
    "Subject",
    "Verification",
    "VerificationMethod",
    "is_valid_request_id",
]

REQUESTED_TYPE = "dsr.requested.v1"
STATUS_CHANGED_TYPE = "dsr.status_changed.v1"

_DIGITS_AND_SEPARATORS = re.compile(r"^[0-9_-]+$")
_REQUEST_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
_REQUEST_ID_SHAPE = re.compile(_REQUEST_ID_PATTERN)
# The written forms of a personnummer, found anywhere inside an id (overlapping matches).
_EMBEDDED_PNR = re.compile(r"(?=((?:19|20)[0-9]{6}[-_]?[0-9]{4}|[0-9]{6}[-_][0-9]{4}))")
# A Swedish mobile number inside an id, as a run of digits of its own: 07X XXX XX XX, with the
# country code (46 / 0046) or without (`req-0708701049`, `kund-tel-46701234567`).
_EMBEDDED_MOBILE = re.compile(r"(?<![0-9])(?:0|46|0046)7[02369][0-9]{7}(?![0-9])")


def _personal_number_shaped(value: str) -> bool:
    return bool(_DIGITS_AND_SEPARATORS.match(value)) and sum(c.isdigit() for c in value) >= 10


def _embeds_personal_identity_number(value: str) -> bool:
    """Whether the id carries a personnummer or samordningsnummer in one of its written forms:
    YYYYMMDDNNNC / YYYYMMDD-NNNC with a year 1900-2099, or YYMMDD-NNNC, each a valid date and
    Luhn digit (`req-198112189876` would carry one into every workflow id and log line).
    Ten bare digits (YYMMDDNNNC) are left alone: a random id (a UUID's 12-hex group) forms a
    valid one by chance about once in 2,500, and a portal's date-and-counter id
    (`req-2612040002`) one in ten (the check digit), and refusing those would refuse real
    requests. A random id meets one of the forms checked here about once in 10^5, and is then
    refused with this reason, never kept."""
    found = [m.group(1).replace("-", "").replace("_", "") for m in _EMBEDDED_PNR.finditer(value)]
    for digits in found:
        candidates = [digits] if len(digits) == 12 else ["19" + digits, "20" + digits]
        if any(is_valid_personal_identity_number(c) for c in candidates):
            return True
    return False


def _embeds_mobile_number(value: str) -> bool:
    """Whether the id carries a Swedish mobile number as a run of digits of its own. A random
    hex id forms one by chance about once in 10^4 to 10^5 ids (a 10-digit run bounded by
    letters, beginning 07[02369]): refused with this reason, never kept."""
    return bool(_EMBEDDED_MOBILE.search(value))


def _not_a_personal_number(value: str) -> str:
    """A request id travels into workflow ids, logs, metrics and traces, so it must never BE or
    CARRY personal data: ten or more digits with nothing but separators is shaped like a
    personnummer, an organisation number or a phone number (e.g. 198112189876, 0701234567),
    and a valid personnummer or a mobile number inside it (`req-198112189876`,
    `req-0708701049`) is refused as well."""
    if _personal_number_shaped(value):
        raise ValueError("must not be shaped like a personal identity or phone number")
    if _embeds_personal_identity_number(value):
        raise ValueError("must not contain a personal identity number")
    if _embeds_mobile_number(value):
        raise ValueError("must not contain a phone number")
    return value


# A request's workflow is `dsr-<id>` and its deferred erasures `dsr-<id>-deferred-erasure`
# (workflows.follow_up), so an id with this ending would name another request's follow-up: the
# intake would take the new request for a duplicate of it (lost), or block the follow-up.
RESERVED_REQUEST_ID_SUFFIX = "-deferred-erasure"


def _not_reserved(value: str) -> str:
    if value.endswith(RESERVED_REQUEST_ID_SUFFIX):
        raise ValueError(
            f"must not end in {RESERVED_REQUEST_ID_SUFFIX} (the workflow id of another "
            "request's deferred erasures)"
        )
    return value


def is_valid_request_id(value: str) -> bool:
    """What `RequestId` accepts, as a predicate: the one rule for "this id is safe to show", so
    the log redaction keeps the digits of a validated id readable (orchestrator.redaction)."""
    return (
        bool(_REQUEST_ID_SHAPE.fullmatch(value))
        and not _personal_number_shaped(value)
        and not _embeds_personal_identity_number(value)
        and not _embeds_mobile_number(value)
        and not value.endswith(RESERVED_REQUEST_ID_SUFFIX)
    )


RequestId = Annotated[
    str,
    StringConstraints(pattern=_REQUEST_ID_PATTERN),
    AfterValidator(_not_a_personal_number),
    AfterValidator(_not_reserved),
]


def _personal_identity_number(value: str) -> str:
    if not is_valid_personal_identity_number(value):
        raise ValueError("must be 12 digits YYYYMMDDNNNC with a valid date and Luhn check digit")
    return value


def _organisation_number(value: str) -> str:
    if not is_valid_organisation_number(value):
        raise ValueError("must be NNNNNN-NNNN with a valid Luhn check digit")
    return value


# RFC 3339 date-time with seconds and an offset. Lax pydantic would also take numbers (unix
# seconds: `"received_at": 1` became 1970) and other string shapes; a legal clock must not
# start from a guess. Datetime objects built in Python (the CLI, the status publisher) pass.
# ASCII digits only (`\d` would take fullwidth and other scripts' digits), and `\Z`: `$`
# would let a trailing newline through.
_RFC3339 = re.compile(
    r"\A(?P<until_second>[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:)(?P<second>[0-9]{2})"
    r"(?:\.[0-9]{1,9})?(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)
# RFC 3339 (5.6, 5.7) allows second 60 for a leap second, which Python's datetime cannot hold:
# it is read as the last microsecond before the next minute, so it keeps its place in time
# and its day (a legal clock counts days).
_LAST_MICROSECOND = "59.999999"


def _rfc3339_string(value: object) -> object:
    if isinstance(value, datetime):
        return value
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("must be an RFC 3339 date-time string with an offset")
    if match["second"] == "60":
        return match["until_second"] + _LAST_MICROSECOND + match["offset"]
    return value


def _utc_representable(value: datetime) -> datetime:
    # "0001-01-01T00:00:00+14:00" is a valid RFC 3339 string whose UTC instant lies before year
    # 1, and 9999-12-31T23:59Z is one hour short of year 10000 in Stockholm: converting either
    # (the store, the legal clock in local time) raises OverflowError. The boundary years go.
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not 1 < year < 9999:
        raise ValueError("out of range (the instant must lie in the years 0002-9998 UTC)")
    return value


Rfc3339Time = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_string), AfterValidator(_utc_representable)
]
PersonalIdentityNumber = Annotated[str, AfterValidator(_personal_identity_number)]
OrganisationNumber = Annotated[str, AfterValidator(_organisation_number)]
Phone = Annotated[str, StringConstraints(pattern=E164_PATTERN)]


def _normalise_domain(value: object) -> object:
    return value.strip().lower().rstrip(".") if isinstance(value, str) else value


Domain = Annotated[
    str,
    BeforeValidator(_normalise_domain),
    StringConstraints(
        max_length=253,
        pattern=r"^([a-z0-9\u00e0-\u00ff]([a-z0-9\u00e0-\u00ff-]{0,61}[a-z0-9\u00e0-\u00ff])?\.)+[a-z]{2,63}$",
    ),
]
CustomerNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)
]


class _Strict(BaseModel):
    """Contract models reject unknown fields: a typo in the portal must fail loudly, not vanish."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestKind(StrEnum):
    ACCESS = "access"
    PORTABILITY = "portability"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    CONSENT_WITHDRAWAL = "consent_withdrawal"


class Channel(StrEnum):
    PORTAL = "portal"
    EMAIL = "email"
    LETTER = "letter"
    PHONE = "phone"


class VerificationMethod(StrEnum):
    PORTAL_LOGIN = "portal_login"
    BANKID = "bankid"
    EMAIL_LINK = "email_link"
    MANUAL_CHECK = "manual_check"
    NONE = "none"


class Locale(StrEnum):
    SV = "sv"
    EN = "en"


class Subject(_Strict):
    """Who the request is about. At least one strong identifier is required."""

    email: EmailStr | None = None
    customer_number: CustomerNumber | None = None
    personal_identity_number: PersonalIdentityNumber | None = None
    organisation_number: OrganisationNumber | None = None
    phone: Phone | None = None
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    domains: list[Domain] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _one_strong_identifier(self) -> Subject:
        if not (
            self.email
            or self.customer_number
            or self.personal_identity_number
            or self.organisation_number
        ):
            raise ValueError(
                "subject needs at least one of email, customer_number, "
                "personal_identity_number, organisation_number"
            )
        return self


class Verification(_Strict):
    method: VerificationMethod
    verified_at: Rfc3339Time | None = None

    @property
    def is_verified(self) -> bool:
        """Identity counts as confirmed only with a real method and a time it was done."""
        return self.method is not VerificationMethod.NONE and self.verified_at is not None


class FieldChange(_Strict):
    field: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    value: Annotated[str, StringConstraints(max_length=1000)]


class Rectification(_Strict):
    changes: list[FieldChange] = Field(min_length=1, max_length=50)


class Scope(_Strict):
    """Optional narrowing by the customer: only these systems / purposes."""

    systems: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]] = Field(
        default_factory=list
    )
    purposes: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list
    )


class DsrRequestedData(_Strict):
    request_id: RequestId
    kind: RequestKind
    received_at: Rfc3339Time
    channel: Channel
    subject: Subject
    verification: Verification
    rectification: Rectification | None = None
    scope: Scope | None = None
    locale: Locale = Locale.SV

    @model_validator(mode="after")
    def _rectification_only_for_rectification(self) -> DsrRequestedData:
        if self.kind is RequestKind.RECTIFICATION and self.rectification is None:
            raise ValueError("kind rectification needs 'rectification.changes'")
        if self.kind is not RequestKind.RECTIFICATION and self.rectification is not None:
            raise ValueError("'rectification' is only allowed with kind rectification")
        return self


DataT = TypeVar("DataT")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")


class CloudEvent(BaseModel, Generic[DataT]):
    """CloudEvents 1.0, structured content mode; extension attributes allowed, as the spec says."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    type: str
    time: Rfc3339Time
    datacontenttype: Literal["application/json"]
    data: DataT

    @model_validator(mode="after")
    def _extensions_are_scalar_attributes(self) -> CloudEvent[DataT]:
        """CloudEvents extension attributes are named `[a-z0-9]{1,20}` and hold scalars; a
        nested structure there would travel unchecked into logs and the workflow input."""
        for name, value in (self.model_extra or {}).items():
            if not _EXTENSION_NAME.match(name):
                raise ValueError("extension attribute names must be 1-20 of [a-z0-9]")
            if not isinstance(value, str | int | bool) or (
                isinstance(value, str) and len(value) > 4096
            ):
                raise ValueError(
                    "extension attributes must be strings (<= 4096), integers or booleans"
                )
        return self


class DsrRequestedEvent(CloudEvent[DsrRequestedData]):
    type: Literal["dsr.requested.v1"]


class DsrStatusChangedData(_Strict):
    """What the portal shows the customer. Outcomes and counts only: no personal data."""

    request_id: RequestId
    kind: RequestKind
    status: RequestStatus
    due_at: datetime
    changed_at: datetime
    reason: str | None = None
    systems: list[SystemStatus] = Field(default_factory=list)
    # The deadline day (Europe/Stockholm) and an Art. 12(3) extension: the portal tells the
    # subject the new due date and why (additive; absent in events of older workflows).
    due_date: date | None = None
    extension: Extension | None = None
    # Access/portability: where the encrypted package is and when it expires (never the data).
    package: PackageRef | None = None
    # Restriction (Art. 18): the restriction about to be lifted (`lifting`, published before
    # any system is touched, Art. 18(3)), then `lifted` or `partly_lifted`. Additive: absent
    # in every other event, and in events of workflows from before it.
    restriction: RestrictionNotice | None = None


class DsrStatusChangedEvent(CloudEvent[DsrStatusChangedData]):
    type: Literal["dsr.status_changed.v1"]


class DeadLetterReason(StrEnum):
    """Machine-readable reason in the `dsr-dlq-reason` header of `dsr.requests.v1.dlq`."""

    OVERSIZE = "oversize"
    MISSING_SIGNATURE = "missing_signature"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    NOT_JSON = "not_json"
    NOT_CLOUDEVENT = "not_cloudevent"
    UNSUPPORTED_TYPE = "unsupported_type"
    SCHEMA_VIOLATION = "schema_violation"
    KEY_MISMATCH = "key_mismatch"
    # Anything else that went wrong handling the record (a parser limit, an unexpected library
    # error, a non-transient refusal by Temporal): the detail names the exception type only.
    UNPROCESSABLE = "unprocessable"
