"""Identifiers as the company's systems store them, and when two names are the same person's.

Why this is shared: every connector must turn the identifiers a subject brings into the form its
system stores before it looks anything up, and must decide from names whether what it found is
one person. Written once per connector, these rules drifted apart (one connector capped e-mail
addresses at 254 characters, another did not); a connector that normalises differently finds
less, or the wrong person. So the rules live here, once, in their strictest correct form, and a
connector only chooses which identifier types it searches by.

Identifiers (each function returns None for a value that cannot be one: it is then not searched):
- e-mail address: surrounding space removed, lower-cased, at most 254 characters;
- customer number: the company's number, upper-cased ("K100001"); a system that holds it in a
  wider field passes its own `pattern`;
- personnummer: twelve digits, separators removed (YYYYMMDDNNNN);
- organisationsnummer: NNNNNN-NNNN, also from the twelve-digit form with the "16" prefix;
- phone: E.164, Swedish national numbers (070…) given +46, 00 read as +.

Names match leniently, because people write their names differently from one system to the next:
case, accents, punctuation, order and extra given names are ignored ("Anna Lind" matches
"anna maria LIND"). Two rules differ on purpose, so both are here:
- `names_match`: a missing name matches anything, since it is no evidence of another person
  (newsletter subscribers and desk users often have no name);
- `name_matches_any`: the given name must match one of a record's names (a company's record
  also by the company's name); a record with no name to compare does not confirm the subject.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from schemas.events import FieldChange
from schemas.identifiers import E164_PATTERN, IdentifierType
from schemas.subject import SubjectRef

M = TypeVar("M")

__all__ = [
    "CUSTOMER_NUMBER",
    "RectificationSplit",
    "fold",
    "match_to_rectify",
    "name_matches_any",
    "name_tokens",
    "names_match",
    "normalise",
    "normalise_customer_number",
    "normalise_email",
    "normalise_organisation_number",
    "normalise_personal_identity_number",
    "normalise_phone",
    "split_changes",
    "split_rectification",
]

# The company's customer number as the systems store it (String(32) columns), upper-cased.
CUSTOMER_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")

_E164 = re.compile(E164_PATTERN)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_EMAIL_MAX = 254  # RFC 5321: the longest address a forward-path can carry
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_PNR_SEPARATORS = re.compile(r"[\s\-+]")
_ORGNR_SEPARATORS = re.compile(r"[\s\-]")
_PNR = re.compile(r"[0-9]{12}")
_ORGNR = re.compile(r"[0-9]{10}")


def normalise_email(value: str) -> str | None:
    """An e-mail address lower-cased, or None if it is not one."""
    email = value.strip().lower()
    return email if _EMAIL.fullmatch(email) and len(email) <= _EMAIL_MAX else None


def normalise_customer_number(value: str, pattern: re.Pattern[str] = CUSTOMER_NUMBER) -> str | None:
    """A customer number upper-cased, or None if it does not fit `pattern` (matched against the
    whole upper-cased value). Non-ASCII is refused first: some letters upper-case to ASCII ones
    (the long s to "S"), and no customer number holds them."""
    number = value.strip()
    if not number.isascii():
        return None
    number = number.upper()
    return number if pattern.fullmatch(number) else None


def normalise_personal_identity_number(value: str) -> str | None:
    """Twelve digits, YYYYMMDDNNNN, from the forms people write (19850312-1234), or None."""
    digits = _PNR_SEPARATORS.sub("", value.strip())
    return digits if _PNR.fullmatch(digits) else None


def normalise_organisation_number(value: str) -> str | None:
    """NNNNNN-NNNN, also from the twelve-digit form with the "16" prefix, or None."""
    digits = _ORGNR_SEPARATORS.sub("", value.strip())
    if len(digits) == 12 and digits.startswith("16"):
        digits = digits[2:]
    return f"{digits[:6]}-{digits[6:]}" if _ORGNR.fullmatch(digits) else None


def normalise_phone(value: str) -> str | None:
    """E.164 (+46701234567) from the ways Swedes write numbers, or None."""
    phone = _PHONE_SEPARATORS.sub("", value)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    elif phone.startswith("0"):
        phone = "+46" + phone[1:]
    return phone if _E164.match(phone) else None


def normalise(
    kind: IdentifierType, value: str, *, customer_number: re.Pattern[str] = CUSTOMER_NUMBER
) -> str | None:
    """`value` as a system stores an identifier of type `kind`, or None if it cannot be one or
    the type is not one of the five above (a connector normalises its own other types)."""
    if kind is IdentifierType.EMAIL:
        return normalise_email(value)
    if kind is IdentifierType.CUSTOMER_NUMBER:
        return normalise_customer_number(value, customer_number)
    if kind is IdentifierType.PERSONAL_IDENTITY_NUMBER:
        return normalise_personal_identity_number(value)
    if kind is IdentifierType.ORGANISATION_NUMBER:
        return normalise_organisation_number(value)
    if kind is IdentifierType.PHONE:
        return normalise_phone(value)
    return None


def fold(text: str) -> str:
    """Case and accents ignored: 'Åsa Öberg' -> 'asa oberg'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_tokens(name: str) -> frozenset[str]:
    """The words of a name, folded, punctuation ignored: what two names are compared by."""
    letters = "".join(c if c.isalnum() else " " for c in fold(name))
    return frozenset(letters.split())


def _same_person(first: frozenset[str], second: frozenset[str]) -> bool:
    # One name's words are all in the other: extra given names do not make another person.
    return first <= second or second <= first


def names_match(a: str | None, b: str | None) -> bool:
    """Lenient: 'Anna Lind' matches 'Anna Maria Lind' (and the other way round); case, accents,
    punctuation and order ignored. A missing name matches anything."""
    first, second = name_tokens(a or ""), name_tokens(b or "")
    if not first or not second:
        return True
    return _same_person(first, second)


def name_matches_any(given: str, *candidates: str | None) -> bool:
    """Whether `given` matches (as `names_match`) one of a record's names, e.g. a customer's name
    or its contact person's. No given name matches; a record without any name does not."""
    wanted = name_tokens(given)
    if not wanted:
        return True
    for candidate in candidates:
        have = name_tokens(candidate or "")
        if have and _same_person(wanted, have):
            return True
    return False


@dataclass
class RectificationSplit:
    """A rectification as one system can apply it (see `schemas.results.RectifyResult` for
    what each refusal means to the DPO and the subject)."""

    values: dict[str, str] = field(default_factory=dict)  # accepted, as the system stores them
    not_held: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def refuse(self, field_name: str) -> None:
        """A value accepted here that the system then would not take (another record's)."""
        self.values.pop(field_name, None)
        if field_name not in self.refused:
            self.refused.append(field_name)


def split_rectification(
    changes: Iterable[FieldChange],
    clean: Callable[[str, str], str | None],
    *,
    rectifiable: Collection[str],
    held: Collection[str] = (),
) -> RectificationSplit:
    """Rectification input sorted for one system: `rectifiable` are the fields its connector
    changes (`clean(field, value)` gives the value as stored, or None if it cannot be stored);
    `held` are further fields the system holds that its connector does not change. Any other
    field is not held here. Each field name is listed once, in the order given; a field given
    twice with different values is refused (a person asks which is right)."""
    split = RectificationSplit()
    for change in changes:
        name = change.field
        if name in rectifiable:
            cleaned = clean(name, change.value)
            given_twice = name in split.refused or split.values.get(name, cleaned) != cleaned
            if cleaned is None or given_twice:  # two values for one field: which is right?
                split.refuse(name)
            else:
                split.values[name] = cleaned
        elif name in held:
            if name not in split.unchanged:
                split.unchanged.append(name)
        elif name not in split.not_held:
            split.not_held.append(name)
    return split


def split_changes(
    changes: Iterable[FieldChange], clean: Callable[[str, str], str | None]
) -> tuple[dict[str, str], list[str]]:
    """Rectification input as a system can apply it: `clean(field, value)` gives the value as
    the system stores it, or None for a field it does not hold or a value it cannot accept.
    Returns the accepted values by field and the rejected field names (each once, in order),
    which the workflow reports to the DPO instead of failing the whole request."""
    values: dict[str, str] = {}
    rejected: list[str] = []
    for change in changes:
        cleaned = clean(change.field, change.value)
        if cleaned is None:
            if change.field not in rejected:
                rejected.append(change.field)
        else:
            values[change.field] = cleaned
    return values, rejected


async def match_to_rectify(
    subject: SubjectRef,
    values: dict[str, str],
    match: Callable[[SubjectRef], Awaitable[M]],
    ambiguity: Callable[[M], str | None],
) -> M:
    """The subject's records for a rectification that may already have renamed them.

    A retried rectification (its first attempt changed the name, then the worker died) meets
    records that now carry the new name, and the name check against the name given would call
    the subject ambiguous and refuse. So when the name is being rectified and the match is
    ambiguous, it is tried once more under the new name; that one is taken only if it is not
    ambiguous (two owners stay two owners whatever the name)."""
    found = await match(subject)
    if ambiguity(found) is None or "name" not in values or not subject.name:
        return found
    renamed = await match(subject.model_copy(update={"name": values["name"]}))
    return renamed if ambiguity(renamed) is None else found
