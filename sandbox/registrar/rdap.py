"""Public RDAP responses (RFC 9083) for domains and entities, with RFC 9537 redaction.

A contact with `disclose` off is published without personal data: its name and street, city and
postal code are replaced by "REDACTED FOR PRIVACY", its phone, e-mail and handle are removed, and
the response's `redacted` member says so (name, method, JSONPath, reason), as RFC 9537 asks. The
organisation of a company (a legal person) and the country stay, as the ICANN RDAP profile does.
Pure functions: the routes fetch the rows and pass them here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MEDIA_TYPE",
    "REDACTED",
    "domain_response",
    "entity_response",
    "error_response",
]

MEDIA_TYPE = "application/rdap+json"
REDACTED = "REDACTED FOR PRIVACY"

# RFC 9083 10.2.4 role values for our roles.
_RDAP_ROLES = {"registrant": "registrant", "admin": "administrative", "tech": "technical"}
# The name prefixes the ICANN RDAP profile uses in `redacted` names.
_REDACTION_PREFIX = {"registrant": "Registrant", "admin": "Admin", "tech": "Tech"}
# EPP status (RFC 8056 mapping) of each registration status.
_DOMAIN_STATUS = {
    "active": ["active"],
    "expired": ["inactive", "redemption period"],
    "deleted": ["pending delete"],
}
_TERMS = {
    "title": "Terms of Use",
    "description": [
        "Sandbox registrar of ICT Workgroup AB: every person in this service is fictitious.",
        "Personal data of private holders is published only with their consent.",
    ],
    "links": [
        {
            "value": "https://www.ictworkgroup.se/",
            "rel": "terms-of-service",
            "href": "https://www.ictworkgroup.se/villkor",
            "type": "text/html",
        }
    ],
}
_PRIVACY_NOTICE = {
    "title": "Redacted for privacy",
    "description": [
        "Some contact data in this response is redacted (RFC 9537) to protect the privacy of "
        "the holder (GDPR).",
    ],
}


def _date(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite returns naive UTC
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _self_link(base_url: str, path: str) -> dict[str, str]:
    href = f"{base_url.rstrip('/')}{path}"
    return {"value": href, "rel": "self", "href": href, "type": MEDIA_TYPE}


def _vcard(contact: Any, redact: bool) -> list[Any]:
    kind = "org" if contact.kind in ("organisation", "role") else "individual"
    properties: list[list[Any]] = [
        ["version", {}, "text", "4.0"],
        ["kind", {}, "text", kind],
        ["fn", {}, "text", REDACTED if redact else contact.name],
    ]
    if contact.organisation:
        properties.append(["org", {}, "text", contact.organisation])
    street, city, postcode = (
        (REDACTED, REDACTED, REDACTED)
        if redact
        else (contact.street or "", contact.city or "", contact.postcode or "")
    )
    properties.append(
        ["adr", {"cc": contact.country}, "text", ["", "", street, city, "", postcode, ""]]
    )
    if not redact:
        if contact.phone:
            properties.append(["tel", {"type": ["voice"]}, "uri", f"tel:{contact.phone}"])
        properties.append(["email", {}, "text", contact.email])
    return ["vcard", properties]


def _redactions(prefix: str, role: str) -> list[dict[str, Any]]:
    """RFC 9537 entries for one redacted entity; `prefix` is the JSONPath of that entity."""
    label = _REDACTION_PREFIX.get(role, "Registrant")
    card = f"{prefix}.vcardArray[1]"
    reason = {"description": "Server policy: personal data of a private holder"}

    def replaced(name: str, path: str) -> dict[str, Any]:
        return {
            "name": {"type": f"{label} {name}"},
            "postPath": path,
            "pathLang": "jsonpath",
            "method": "replacementValue",
            "reason": reason,
        }

    def removed(name: str, path: str) -> dict[str, Any]:
        return {
            "name": {"type": name},
            "prePath": path,
            "pathLang": "jsonpath",
            "method": "removal",
            "reason": reason,
        }

    return [
        removed(f"Registry {label} ID", f"{prefix}.handle"),
        replaced("Name", f"{card}[?(@[0]=='fn')][3]"),
        replaced("Street", f"{card}[?(@[0]=='adr')][3][2]"),
        replaced("City", f"{card}[?(@[0]=='adr')][3][3]"),
        replaced("Postal Code", f"{card}[?(@[0]=='adr')][3][5]"),
        removed(f"{label} Phone", f"{card}[?(@[0]=='tel')]"),
        removed(f"{label} Email", f"{card}[?(@[0]=='email')]"),
    ]


def _entity(
    contact: Any, roles: list[str], base_url: str, *, keep_handle: bool = False
) -> dict[str, Any]:
    redact = not contact.disclose
    entity: dict[str, Any] = {"objectClassName": "entity"}
    if not redact or keep_handle:
        entity["handle"] = contact.handle
    if roles:
        entity["roles"] = [_RDAP_ROLES[r] for r in roles]
    entity["vcardArray"] = _vcard(contact, redact)
    if redact:
        entity["remarks"] = [
            {
                "title": REDACTED,
                "type": "object truncated due to authorization",
                "description": ["Contact data of this entity is not published."],
            }
        ]
    else:
        entity["links"] = [_self_link(base_url, f"/rdap/entity/{contact.handle}")]
    return entity


def _registrar_entity() -> dict[str, Any]:
    return {
        "objectClassName": "entity",
        "handle": "ICTW",
        "roles": ["registrar"],
        "vcardArray": [
            "vcard",
            [["version", {}, "text", "4.0"], ["fn", {}, "text", "ICT Workgroup AB"]],
        ],
    }


def domain_response(
    domain: Any, contacts: Iterable[tuple[Any, list[str]]], base_url: str, now: datetime
) -> dict[str, Any]:
    """The RDAP domain object; `contacts` are (contact row, its roles on the domain)."""
    entities: list[dict[str, Any]] = [_registrar_entity()]
    redacted: list[dict[str, Any]] = []
    for contact, roles in contacts:
        entity = _entity(contact, roles, base_url)
        if not contact.disclose:
            first = _RDAP_ROLES[roles[0]]
            redacted += _redactions(f"$.entities[?(@.roles[0]=='{first}')]", roles[0])
        entities.append(entity)
    response: dict[str, Any] = {
        "rdapConformance": ["rdap_level_0", "redacted"] if redacted else ["rdap_level_0"],
        "objectClassName": "domain",
        "handle": f"{domain.id}_DOMAIN-ICTW",
        "ldhName": domain.name,
        "status": _DOMAIN_STATUS[domain.status],
        "events": [
            {"eventAction": "registration", "eventDate": _date(domain.created_at)},
            {"eventAction": "expiration", "eventDate": _date(domain.expires_at)},
            {"eventAction": "last update of RDAP database", "eventDate": _date(now)},
        ],
        "entities": entities,
        "links": [_self_link(base_url, f"/rdap/domain/{domain.name}")],
        "notices": [_TERMS, _PRIVACY_NOTICE] if redacted else [_TERMS],
    }
    if redacted:
        response["redacted"] = redacted
    return response


def entity_response(contact: Any, roles: list[str], base_url: str, now: datetime) -> dict[str, Any]:
    """The RDAP entity object of one contact (looked up by its handle, which is kept)."""
    entity = _entity(contact, roles, base_url, keep_handle=True)
    entity["links"] = [_self_link(base_url, f"/rdap/entity/{contact.handle}")]
    entity["events"] = [{"eventAction": "last update of RDAP database", "eventDate": _date(now)}]
    redact = not contact.disclose
    entity["rdapConformance"] = ["rdap_level_0", "redacted"] if redact else ["rdap_level_0"]
    entity["notices"] = [_TERMS, _PRIVACY_NOTICE] if redact else [_TERMS]
    if redact:
        # Looked up by its handle, the handle is no secret here: every other entry applies.
        every = _redactions("$", roles[0] if roles else "registrant")
        entity["redacted"] = [r for r in every if not r["name"]["type"].startswith("Registry ")]
    return entity


def error_response(code: int, title: str, description: str) -> dict[str, Any]:
    """RFC 9083 section 6 error response."""
    return {
        "rdapConformance": ["rdap_level_0"],
        "errorCode": code,
        "title": title,
        "description": [description],
        "notices": [_TERMS],
    }
