"""What one customer did at the support desk: the user record, tickets with their conversation,
attachments, recorded calls and satisfaction ratings.

Deterministic per customer (`random.Random` seeded with the sandbox seed and the row index), so
`support_activity(customer, seed)` gives exactly what the seeder wrote, without a database: tests
and benchmarks use it to know the expected counts of any seeded customer.

Customers write the way customers do: they sign with their name, paste their e-mail address,
give their phone number in whatever format they like and now and then their personnummer. That
is what makes erasure at a support desk hard (the personal data sits in free text), so the
generated conversations contain it on purpose, in the formats people really use.

Who is there follows `sandbox.presence`: a customer the presence table gives support has a user
here, except customers anonymised earlier (their support history was erased with them). The two
people sharing one family e-mail address (slots 30 and 31) are two users, but the address can
belong to only one of them (an e-mail address is unique at a help desk): the second contacted
support by phone and has no e-mail address here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sandbox.people import BLOCK_SIZE, REFERENCE_DATE, Customer
from sandbox.presence import presence
from sandbox.support.schema import LEGAL_HOLD_TAG

__all__ = [
    "AGENTS",
    "CATEGORIES",
    "Attachment",
    "Call",
    "Comment",
    "Rating",
    "SupportActivity",
    "SupportUser",
    "Ticket",
    "heavy_tickets",
    "phone_variants",
    "pnr_variants",
    "support_activity",
]

# The categories the support connector reports, in its order.
CATEGORIES = (
    "user",
    "tickets",
    "comments",
    "attachments",
    "call_recordings",
    "satisfaction_ratings",
)

# The support team (fictitious staff): agents author the replies.
AGENTS: tuple[tuple[str, str], ...] = (
    ("Elin Borg", "elin.borg@support.example.se"),
    ("Mattias Rydén", "mattias.ryden@support.example.se"),
    ("Sanna Kvist", "sanna.kvist@support.example.se"),
    ("Jonatan Ekdahl", "jonatan.ekdahl@support.example.se"),
    ("Pernilla Vikström", "pernilla.vikstrom@support.example.se"),
)

ATTACHMENT_HOST = "https://support.example.se"


@dataclass(frozen=True, slots=True)
class Attachment:
    file_name: str
    content_type: str
    size: int
    token: str


@dataclass(frozen=True, slots=True)
class Comment:
    by_customer: bool
    agent: int | None  # index into AGENTS for agent comments
    body: str
    public: bool
    created_at: datetime
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Rating:
    score: str  # good | bad
    comment: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Ticket:
    subject: str
    status: str
    tags: tuple[str, ...]
    via: str
    created_at: datetime
    updated_at: datetime
    comments: tuple[Comment, ...]
    rating: Rating | None = None

    @property
    def legal_hold(self) -> bool:
        return LEGAL_HOLD_TAG in self.tags

    @property
    def attachments(self) -> int:
        return sum(len(c.attachments) for c in self.comments)


@dataclass(frozen=True, slots=True)
class Call:
    direction: str  # inbound | outbound
    started_at: datetime
    duration: int  # seconds
    ticket: int | None  # index into the activity's tickets (a call that opened a ticket)


@dataclass(frozen=True, slots=True)
class SupportUser:
    name: str
    email: str | None
    phone: str | None
    external_id: str  # the customer number
    organization: tuple[str, str | None] | None  # (company name, organisationsnummer)
    created_at: datetime

    def __repr__(self) -> str:  # never print fictitious-but-realistic personal data in logs
        return f"SupportUser({self.external_id})"


@dataclass(frozen=True, slots=True)
class SupportActivity:
    user: SupportUser | None
    tickets: tuple[Ticket, ...] = ()
    calls: tuple[Call, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Records per support category, as the connector's locate reports them."""
        return {
            "user": 0 if self.user is None else 1,
            "tickets": len(self.tickets),
            "comments": sum(len(t.comments) for t in self.tickets),
            "attachments": sum(t.attachments for t in self.tickets),
            "call_recordings": len(self.calls),
            "satisfaction_ratings": sum(1 for t in self.tickets if t.rating is not None),
        }

    @property
    def legal_hold_tickets(self) -> tuple[Ticket, ...]:
        return tuple(t for t in self.tickets if t.legal_hold)

    def __repr__(self) -> str:
        return f"SupportActivity({self.counts})"


# --- how people write their identifiers -----------------------------------------------------


def phone_variants(e164: str) -> tuple[str, ...]:
    """A Swedish mobile number as people write it: 070-123 45 67, 0701234567, +46 70 123 45 67,
    070 123 45 67 (the E.164 form +46701234567 is what the systems store)."""
    n = e164.removeprefix("+46")
    return (
        f"0{n[0:2]}-{n[2:5]} {n[5:7]} {n[7:]}",
        f"0{n}",
        f"+46 {n[0:2]} {n[2:5]} {n[5:7]} {n[7:]}",
        f"0{n[0:2]} {n[2:5]} {n[5:7]} {n[7:]}",
        e164,
    )


def pnr_variants(pnr: str) -> tuple[str, ...]:
    """A personnummer as people write it: 850312-1234, 19850312-1234, 198503121234."""
    return (f"{pnr[2:8]}-{pnr[8:]}", f"{pnr[:8]}-{pnr[8:]}", pnr)


# --- texts ----------------------------------------------------------------------------------

# (subject, tags, the customer's first message, chance that a ticket of this kind is on hold)
_TOPICS: tuple[tuple[str, tuple[str, ...], str, float], ...] = (
    (
        "Kan inte logga in på webbmailen",
        ("epost", "inloggning"),
        "Jag kommer inte in i webbmailen sedan i morse. Det står att lösenordet är fel, "
        "fast jag inte har bytt det.",
        0.0,
    ),
    (
        "Flytt av domän till er",
        ("doman", "flytt"),
        "Jag vill flytta min domän till er. Vad behöver jag göra med auth-koden?",
        0.0,
    ),
    (
        "WordPress-sidan visar fel 500",
        ("webbhotell", "wordpress"),
        'Min WordPress-sida visar bara "Internal Server Error" sedan uppdateringen igår.',
        0.0,
    ),
    (
        "Fråga om faktura",
        ("faktura",),
        "Jag har fått en faktura som jag inte förstår. Varför är beloppet högre än förra året?",
        0.0,
    ),
    (
        "Bestrider faktura",
        ("faktura", "tvist"),
        "Jag bestrider fakturan. Tjänsten sades upp i tid och jag ska inte behöva betala för "
        "nästa period. Jag har skickat uppsägningen per e-post i god tid.",
        0.85,
    ),
    (
        "SSL-certifikatet har gått ut",
        ("ssl", "webbhotell"),
        "Webbläsaren varnar för att certifikatet har gått ut på min sida. Förnyas det inte "
        "automatiskt?",
        0.0,
    ),
    (
        "Byte av kontaktuppgifter",
        ("kontouppgifter",),
        "Jag har bytt telefonnummer och vill uppdatera mina uppgifter hos er.",
        0.0,
    ),
    (
        "Uppsägning av webbhotell",
        ("uppsagning", "webbhotell"),
        "Jag vill säga upp mitt webbhotell vid periodens slut. Bekräfta gärna uppsägningen.",
        0.0,
    ),
    (
        "E-post hamnar i skräpposten",
        ("epost", "spam"),
        "Alla mejl jag skickar hamnar i skräpposten hos mottagarna. Är något fel med "
        "SPF eller DKIM?",
        0.0,
    ),
    (
        "Klagomål: sidan låg nere i två dagar",
        ("driftstorning", "klagomal"),
        "Min webbutik låg nere i två dagar och jag har förlorat beställningar. Jag kräver "
        "ersättning enligt avtalet.",
        0.5,
    ),
)
_TOPIC_WEIGHTS = (14, 10, 12, 10, 6, 8, 6, 7, 8, 4)

_AGENT_REPLIES = (
    "Tack för att du hör av dig. Vi har tittat på ärendet och återställt inställningarna. "
    "Prova gärna igen och hör av dig om det inte fungerar.",
    "Vi har kontrollerat kontot och allt ser rätt ut hos oss. Kan du skicka en skärmdump på "
    "felmeddelandet?",
    "Vi har skickat ärendet vidare till vår tekniska avdelning och återkommer så snart vi vet mer.",
    "Fakturan avser nästa avtalsperiod. Vi har gått igenom uppsägningen och återkommer med "
    "besked inom fem arbetsdagar.",
    "Ärendet är nu löst från vår sida. Vi stänger det om vi inte hör något inom en vecka.",
)
_CUSTOMER_FOLLOW_UPS = (
    "Tack för snabbt svar!",
    "Det fungerar fortfarande inte. Kan ni ringa mig på {phone}?",
    "Jag bifogar en skärmdump.",
    "Nu fungerar det, tack så mycket.",
    "Jag väntar fortfarande på besked. Svara gärna till {email}.",
)
_INTERNAL_NOTES = (
    "Internt: {name} ringde och frågade om ärendet. Lovade återkoppling i morgon.",
    "Internt: kontrollerat mot fakturasystemet, kunden {name} har betalat.",
    "Internt: eskalerat till drift.",
)
_RATING_COMMENTS = (
    "Snabb och bra hjälp!",
    "Tog lite lång tid men löste sig till slut.",
    "Trevligt bemötande.",
    "Ingen lösning på mitt problem.",
)
_ATTACHMENTS = (
    ("skarmdump.png", "image/png"),
    ("felmeddelande.jpg", "image/jpeg"),
    ("faktura.pdf", "application/pdf"),
    ("uppsagning.pdf", "application/pdf"),
    ("kvitto.pdf", "application/pdf"),
    ("loggfil.txt", "text/plain"),
)


def _moment(rng: random.Random, first: date, last: date) -> datetime:
    span = max((last - first).days, 0)
    day = first + timedelta(days=rng.randint(0, span))
    return datetime.combine(
        day, time(rng.randint(7, 21), rng.randint(0, 59), rng.randint(0, 59)), tzinfo=UTC
    )


@dataclass(frozen=True, slots=True)
class _Writer:
    """The personal details a customer puts into what they write."""

    name: str
    first_name: str
    email: str | None
    phone: str | None
    pnr: str | None
    customer_number: str
    domains: tuple[str, ...]

    def first_message(self, rng: random.Random, text: str, on_hold: bool) -> str:
        lines = [f"Hej!\n\n{text}"]
        if self.domains and rng.random() < 0.5:
            lines.append(f"Det gäller {rng.choice(self.domains)}.")
        if rng.random() < 0.5:
            lines.append(f"Mitt kundnummer är {self.customer_number}.")
        if self.pnr and (on_hold or rng.random() < 0.3):
            lines.append(f"Mitt personnummer är {rng.choice(pnr_variants(self.pnr))}.")
        if self.phone and (on_hold or rng.random() < 0.5):
            lines.append(f"Ni når mig på {rng.choice(phone_variants(self.phone))}.")
        if self.email and (on_hold or rng.random() < 0.4):
            lines.append(f"Svara gärna till {self.email}.")
        lines.append(f"Med vänliga hälsningar\n{self.name}")
        return "\n\n".join(lines)

    def follow_up(self, rng: random.Random) -> str:
        template = rng.choice(_CUSTOMER_FOLLOW_UPS)
        if ("{phone}" in template and not self.phone) or ("{email}" in template and not self.email):
            template = _CUSTOMER_FOLLOW_UPS[0]
        phone = rng.choice(phone_variants(self.phone)) if self.phone else ""
        text = template.format(phone=phone, email=self.email or "")
        return f"{text}\n\n/{self.first_name}"


def _agent_comment(rng: random.Random, writer: _Writer, at: datetime) -> Comment:
    agent = rng.randrange(len(AGENTS))
    if rng.random() < 0.15:
        note = rng.choice(_INTERNAL_NOTES).format(name=writer.name)
        return Comment(False, agent, note, False, at)
    body = (
        f"Hej {writer.first_name}!\n\n{rng.choice(_AGENT_REPLIES)}\n\n"
        f"Vänliga hälsningar\n{AGENTS[agent][0]}\nKundtjänst"
    )
    return Comment(False, agent, body, True, at)


def _attachments(rng: random.Random) -> tuple[Attachment, ...]:
    if rng.random() >= 0.2:
        return ()
    picked = rng.sample(_ATTACHMENTS, k=rng.choice((1, 1, 2)))
    return tuple(
        Attachment(name, kind, rng.randint(2_000, 2_500_000), f"{rng.getrandbits(80):020x}")
        for name, kind in picked
    )


def _ticket(rng: random.Random, writer: _Writer, first: date, *, via: str | None = None) -> Ticket:
    subject, tags, text, hold_chance = rng.choices(_TOPICS, weights=_TOPIC_WEIGHTS)[0]
    on_hold = rng.random() < hold_chance
    created = _moment(rng, first, REFERENCE_DATE - timedelta(days=1))
    age = (REFERENCE_DATE - created.date()).days
    if age < 14:
        status = rng.choice(("new", "open", "pending"))
    elif age < 60:
        status = rng.choice(("open", "pending", "solved", "solved"))
    else:
        status = "closed"
    if on_hold and status in ("solved", "closed"):
        status = "pending"  # a dispute stays open until it is settled
    at = created
    first_message = writer.first_message(rng, text, on_hold)
    comments = [Comment(True, None, first_message, True, at, _attachments(rng))]
    for n in range(rng.randint(1, 4)):
        at = at + timedelta(hours=rng.randint(1, 72))
        if n % 2 == 0:
            comments.append(_agent_comment(rng, writer, at))
        else:
            comments.append(Comment(True, None, writer.follow_up(rng), True, at, _attachments(rng)))
    rating = None
    if status in ("solved", "closed") and rng.random() < 0.3:
        rating = Rating(
            "good" if rng.random() < 0.8 else "bad",
            rng.choice(_RATING_COMMENTS) if rng.random() < 0.4 else None,
            at + timedelta(hours=rng.randint(1, 48)),
        )
    tag_list = (*tags, LEGAL_HOLD_TAG) if on_hold else tags
    channel = via or rng.choice(("email", "email", "email", "web"))
    return Ticket(subject, status, tag_list, channel, created, at, tuple(comments), rating)


def _writer(customer: Customer, email: str | None, phone: str | None) -> _Writer:
    return _Writer(
        name=customer.contact_name or customer.name,
        first_name=customer.first_name.split()[0],
        email=email,
        phone=phone,
        pnr=customer.personal_identity_number,
        customer_number=customer.customer_number,
        domains=customer.domains,
    )


def _second_of_shared_pair(customer: Customer) -> bool:
    return (
        customer.special == "shared_email"
        and customer.partner_index is not None
        and customer.partner_index < customer.index
    )


def support_activity(customer: Customer, seed: int) -> SupportActivity:
    """The support desk's records of `customer` (nothing if the customer never contacted it)."""
    if customer.status == "anonymised" or not presence(customer, seed).support:
        return SupportActivity(user=None)
    rng = random.Random(f"sandbox-support:{seed}:{customer.index}")
    phone_only = _second_of_shared_pair(customer)
    email = None if phone_only else customer.email.lower()
    phone = customer.phone if (customer.special or rng.random() < 0.7) else None
    first_contact = min(
        customer.created_at.date() + timedelta(days=rng.randint(0, 400)),
        REFERENCE_DATE - timedelta(days=10),
    )
    organization = None
    if customer.kind == "company":
        organization = (customer.name, customer.organisation_number)
    user = SupportUser(
        name=customer.contact_name or customer.name,
        email=email,
        phone=phone,
        external_id=customer.customer_number,
        organization=organization,
        created_at=_moment(rng, first_contact, first_contact),
    )
    writer = _writer(customer, email, phone)
    if phone_only:
        count = rng.choice((0, 1))
    else:
        count = rng.choices((0, 1, 2, 3, 4, 5), weights=(1, 5, 5, 4, 2, 1))[0]
        if customer.index % BLOCK_SIZE == 0:
            count = max(count, 2)  # the example person everybody follows has some history
    via = "voice" if phone_only else None
    tickets = tuple(_ticket(rng, writer, first_contact, via=via) for _ in range(count))
    calls_count = rng.choices((0, 1, 2, 3), weights=(5, 3, 1, 1))[0]
    if phone_only or customer.index % BLOCK_SIZE == 0:
        calls_count = max(calls_count, 1)
    calls = tuple(
        Call(
            direction="inbound" if rng.random() < 0.85 else "outbound",
            started_at=_moment(rng, first_contact, REFERENCE_DATE - timedelta(days=1)),
            duration=rng.randint(25, 1800),
            ticket=rng.randrange(len(tickets)) if tickets and rng.random() < 0.3 else None,
        )
        for _ in range(calls_count)
    )
    return SupportActivity(user=user, tickets=tickets, calls=calls)


def heavy_tickets(customer: Customer, count: int, seed: int) -> Iterator[Ticket]:
    """`count` tickets of one very active customer, generated one at a time (for benchmarks)."""
    rng = random.Random(f"sandbox-support:heavy:{seed}:{customer.index}")
    writer = _writer(customer, customer.email.lower(), customer.phone)
    first = REFERENCE_DATE - timedelta(days=3 * 365)
    for _ in range(count):
        yield _ticket(rng, writer, first)
