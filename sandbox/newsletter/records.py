"""What the newsletter system holds, generated deterministically: its lists and campaigns, and per
customer row the subscriber (with subscriptions, campaign views and link clicks), if any.

`newsletter_activity(customer, seed)` gives exactly the rows the seeder writes for that row,
without a database: tests and benchmarks use it for the expected counts of any seeded customer.
Who subscribes at all comes from `sandbox.presence`, so one person can be followed across the
five systems. Besides customers, the newsletter has subscribers who never bought anything
("prospects"); one may be generated alongside any customer row, from its own random stream, so
its existence does not change the customer's data.

The cases the connector must get right:
- an anonymised former customer who subscribed was erased earlier: no subscriber, but the salted
  hash of the address is on the blocklist, so locate finds only `blocklist`;
- two people sharing one address (slots 30, 31) share one subscriber: it carries the first
  person's name and customer number, so a request from the second is recognisably ambiguous;
- the person with two customer rows (slots 10, 11) subscribed with both addresses.
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sandbox._swedish import EMAIL_PROVIDERS, FEMALE_FIRST_NAMES, LAST_NAMES, MALE_FIRST_NAMES
from sandbox.people import BLOCK_SIZE, FIRST_CUSTOMER_DATE, REFERENCE_DATE, Customer, ascii_fold
from sandbox.presence import EVERYWHERE_SLOTS, presence

__all__ = [
    "TRACKING_WINDOW_DAYS",
    "Campaign",
    "Catalogue",
    "Click",
    "Link",
    "NewsletterActivity",
    "NewsletterList",
    "SubscriberRecord",
    "Subscription",
    "View",
    "catalogue",
    "newsletter_activity",
    "prospect_email",
]

# Views and clicks are generated for campaigns of the last two years only: older tracking would
# only make a million-customer seed slower without adding a case worth testing.
TRACKING_WINDOW_DAYS = 730
_LISTS_CREATED = datetime(2016, 12, 1, 9, 0, tzinfo=UTC)
_LINK_BASE = "https://www.webbhotell.example"
_MONTHS = (
    "januari", "februari", "mars", "april", "maj", "juni",
    "juli", "augusti", "september", "oktober", "november", "december",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NewsletterList:
    id: int
    uuid: str
    name: str
    type: str  # public | private
    optin: str  # single | double
    description: str
    slug: str
    months: tuple[int, ...]  # months a campaign goes out
    day: int  # day of the month it goes out
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Link:
    id: int
    uuid: str
    url: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    uuid: str
    name: str
    subject: str
    list_id: int
    started_at: datetime
    link_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The lists, every campaign sent to them (oldest first) and the links in the campaigns."""

    lists: tuple[NewsletterList, ...]
    campaigns: tuple[Campaign, ...]
    links: tuple[Link, ...]
    by_list: dict[int, tuple[Campaign, ...]] = field(repr=False)
    starts: dict[int, tuple[datetime, ...]] = field(repr=False)

    def sent_between(self, list_id: int, first: datetime, last: datetime) -> tuple[Campaign, ...]:
        """Campaigns of `list_id` that went out in [first, last)."""
        starts = self.starts[list_id]
        return self.by_list[list_id][bisect_left(starts, first) : bisect_right(starts, last)]


@dataclass(frozen=True, slots=True)
class Subscription:
    list_id: int
    status: str  # unconfirmed | confirmed | unsubscribed
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class View:
    campaign_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Click:
    campaign_id: int
    link_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    """One subscriber row and everything hanging off it."""

    uuid: str
    email: str
    name: str
    attribs: dict[str, str]
    status: str  # enabled | blocklisted
    created_at: datetime
    updated_at: datetime
    subscriptions: tuple[Subscription, ...]
    views: tuple[View, ...]
    clicks: tuple[Click, ...]

    def __repr__(self) -> str:  # fictitious, but realistic personal data stays out of logs
        return f"SubscriberRecord({len(self.subscriptions)} subscriptions)"


@dataclass(frozen=True, slots=True)
class NewsletterActivity:
    """What the newsletter holds for one customer row, plus the prospect generated beside it."""

    subscriber: SubscriberRecord | None  # the customer's own subscriber
    blocklisted: bool  # erased earlier: only the salted hash of the address is kept
    shared_with: int | None  # the address is subscribed under this (partner) customer row
    prospect: SubscriberRecord | None  # a subscriber who is not a customer


# --- lists and campaigns ------------------------------------------------------------------

_LIST_DEFINITIONS = (
    (
        "Nyhetsbrev",
        "public",
        "single",
        "Månadens nyheter om våra tjänster och hur vi arbetar",
        "nyhetsbrev",
        tuple(range(1, 13)),
        5,
        (
            "PHP 8.3 finns nu i alla webbhotell",
            "Tvåfaktorsinloggning på Min Sida",
            "Gratis SSL för alla domäner",
            "Så skyddar du din WordPress-sajt",
            "Snabbare lagring för alla webbhotell",
            "Nytt skräppostfilter för e-posten",
            "Sommartider för supporten",
            "Så återställer du en säkerhetskopia",
            "Vår nya serverhall i Stockholm",
            "Guide: peka om din domän",
        ),
    ),
    (
        "Driftinformation",
        "private",
        "single",
        "Planerade underhållsfönster och driftstörningar",
        "drift",
        (1, 3, 5, 7, 9, 11),
        15,
        (
            "Planerat underhåll av e-postservrarna",
            "Planerat underhåll av DNS",
            "Planerat underhåll av Min Sida",
            "Planerat underhåll av databasservrarna",
            "Uppgradering av webbhotellsklustret",
        ),
    ),
    (
        "Erbjudanden",
        "public",
        "double",
        "Kampanjer och erbjudanden",
        "erbjudanden",
        (3, 6, 9, 11),
        20,
        (
            "Halva priset första året på Webbhotell Pro",
            ".nu-domän för 9 kr första året",
            "Vi flyttar din sajt gratis",
            "VPS till halva priset i tre månader",
        ),
    ),
    (
        "Domännyheter",
        "public",
        "double",
        "Nyheter om domäner och toppdomäner",
        "domaner",
        (4, 10),
        10,
        (
            "DNSSEC för alla .se-domäner",
            "Nya toppdomäner att registrera",
            "Så fungerar förnyelsen av din domän",
            "Ändrade registreringsvillkor för .se",
        ),
    ),
    (
        "Utvecklarnytt",
        "public",
        "double",
        "För dig som utvecklar: API, SSH, Git och nya språkversioner",
        "utvecklare",
        (2, 5, 8, 11),
        25,
        (
            "Git-deploy med SSH-nycklar",
            "Node.js i webbhotellet",
            "Nytt API för DNS-poster",
            "Schemalagda jobb i kontrollpanelen",
        ),
    ),
)

NYHETSBREV, DRIFTINFORMATION, ERBJUDANDEN, DOMANNYHETER, UTVECKLARNYTT = 1, 2, 3, 4, 5


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The lists and every campaign from January 2017 up to the sandbox's reference date.

    The same for every seed: it is the company's own content, not anybody's personal data.
    """
    rng = random.Random("sandbox-newsletter:catalogue")
    newsletter_lists = tuple(
        NewsletterList(index, _uuid(rng), *definition)
        for index, definition in enumerate(_LIST_DEFINITIONS, start=1)
    )
    planned: list[tuple[datetime, NewsletterList]] = []
    for newsletter_list in newsletter_lists:
        for year in range(FIRST_CUSTOMER_DATE.year, REFERENCE_DATE.year + 1):
            for month in newsletter_list.months:
                sent = datetime(year, month, newsletter_list.day, 8, 0, tzinfo=UTC)
                if sent.date() < REFERENCE_DATE:
                    planned.append((sent, newsletter_list))
    planned.sort(key=lambda item: (item[0], item[1].id))
    campaigns: list[Campaign] = []
    all_links: list[Link] = []
    for campaign_id, (sent, newsletter_list) in enumerate(planned, start=1):
        topic = newsletter_list.topics[rng.randrange(len(newsletter_list.topics))]
        period = f"{_MONTHS[sent.month - 1]} {sent.year}"
        link_ids = []
        for n in range(rng.choice((1, 2, 3))):
            link_id = len(all_links) + 1
            url = f"{_LINK_BASE}/{newsletter_list.slug}/{sent:%Y-%m}/{campaign_id}-{n + 1}"
            all_links.append(Link(link_id, _uuid(rng), url, sent - timedelta(hours=1)))
            link_ids.append(link_id)
        campaigns.append(
            Campaign(
                id=campaign_id,
                uuid=_uuid(rng),
                name=f"{newsletter_list.name} {period}",
                subject=f"{newsletter_list.name} {period}: {topic}",
                list_id=newsletter_list.id,
                started_at=sent,
                link_ids=tuple(link_ids),
            )
        )
    by_list = {nl.id: tuple(c for c in campaigns if c.list_id == nl.id) for nl in newsletter_lists}
    starts = {list_id: tuple(c.started_at for c in cs) for list_id, cs in by_list.items()}
    return Catalogue(newsletter_lists, tuple(campaigns), tuple(all_links), by_list, starts)


# --- subscribers --------------------------------------------------------------------------

_PROVIDERS = tuple(p for p, _ in EMAIL_PROVIDERS)
_PROVIDER_WEIGHTS = tuple(w for _, w in EMAIL_PROVIDERS)
_LATEST = datetime.combine(REFERENCE_DATE - timedelta(days=14), datetime.min.time(), tzinfo=UTC)
_REFERENCE = datetime.combine(REFERENCE_DATE, datetime.min.time(), tzinfo=UTC)
_SOURCES = ("webbformulär", "mässa", "kundportalen", "import 2019")


def prospect_email(first: str, last: str, index: int, provider: str) -> str:
    """A non-customer's address. The `.n<row>` suffix never occurs in a customer's address
    (those end in letters and the row number, or are at the company's own domain)."""
    return f"{_slug(first)}.{_slug(last)}.n{index + 1}@{provider}"


def _slug(text: str) -> str:
    return "".join(c for c in ascii_fold(text.split()[0]) if c.isascii() and c.isalnum())


def _moment(rng: random.Random, first: datetime, last: datetime) -> datetime:
    """A random second in [first, last] (first when the span is empty)."""
    span = int((last - first).total_seconds())
    return first if span <= 0 else first + timedelta(seconds=rng.randint(0, span))


def newsletter_activity(customer: Customer, seed: int) -> NewsletterActivity:
    """The newsletter rows of customer row `customer.index` in a sandbox seeded with `seed`."""
    rng = random.Random(f"sandbox-newsletter:{seed}:{customer.index}")
    prospect = _prospect(customer.index, seed)
    if not presence(customer, seed).newsletter:
        return NewsletterActivity(None, False, None, prospect)
    if customer.status == "anonymised":
        return NewsletterActivity(None, True, None, prospect)
    partner = customer.partner_index
    if customer.special == "shared_email" and partner is not None and partner < customer.index:
        return NewsletterActivity(None, False, partner, prospect)
    return NewsletterActivity(_customer_subscriber(rng, customer), False, None, prospect)


def _customer_subscriber(rng: random.Random, customer: Customer) -> SubscriberRecord:
    featured = customer.index % BLOCK_SIZE in EVERYWHERE_SLOTS  # the cases present in every system
    if customer.kind == "company":
        name = customer.contact_name or customer.name
        attribs = {
            "customer_number": customer.customer_number,
            "company": customer.name,
            "city": customer.city,
        }
    else:
        name = customer.name if rng.random() < 0.8 else customer.first_name
        attribs = {"customer_number": customer.customer_number, "city": customer.city}
    wanted = {NYHETSBREV: 0.9, DRIFTINFORMATION: 0.6, ERBJUDANDEN: 0.3, UTVECKLARNYTT: 0.15}
    wanted[DOMANNYHETER] = 0.25 if customer.domains else 0.05
    lists = [list_id for list_id, p in sorted(wanted.items()) if rng.random() < p]
    if featured and NYHETSBREV not in lists:
        lists.insert(0, NYHETSBREV)
    blocklisted = not featured and rng.random() < 0.02  # hard bounces, complaints
    return _subscriber(
        rng,
        email=customer.email.lower(),
        name=name,
        attribs=attribs,
        earliest=customer.created_at,
        lists=lists or [NYHETSBREV],
        blocklisted=blocklisted,
        keep_first=featured,
    )


def _prospect(index: int, seed: int) -> SubscriberRecord | None:
    rng = random.Random(f"sandbox-newsletter:prospect:{seed}:{index}")
    if rng.random() >= 0.3:
        return None
    first = rng.choice(FEMALE_FIRST_NAMES if rng.random() < 0.5 else MALE_FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    provider = rng.choices(_PROVIDERS, weights=_PROVIDER_WEIGHTS)[0]
    wanted = {NYHETSBREV: 0.85, ERBJUDANDEN: 0.35, DOMANNYHETER: 0.15, UTVECKLARNYTT: 0.2}
    lists = [list_id for list_id, p in sorted(wanted.items()) if rng.random() < p]
    earliest = datetime.combine(FIRST_CUSTOMER_DATE, datetime.min.time(), tzinfo=UTC)
    return _subscriber(
        rng,
        email=prospect_email(first, last, index, provider),
        name=f"{first} {last}" if rng.random() < 0.7 else first,
        attribs={"source": rng.choice(_SOURCES)},
        earliest=earliest,
        lists=lists or [NYHETSBREV],
        blocklisted=rng.random() < 0.02,
        keep_first=False,
    )


def _subscriber(
    rng: random.Random,
    *,
    email: str,
    name: str,
    attribs: dict[str, str],
    earliest: datetime,
    lists: list[int],
    blocklisted: bool,
    keep_first: bool,
) -> SubscriberRecord:
    """A subscriber with its subscriptions and tracking. `keep_first`: the first subscription
    stays confirmed (the featured cases always receive the newsletter)."""
    optin = {nl.id: nl.optin for nl in catalogue().lists}
    subscribed_at = _moment(rng, earliest, _LATEST)
    subscriptions: list[Subscription] = []
    for position, list_id in enumerate(lists):
        created = subscribed_at if position == 0 else _moment(rng, subscribed_at, _LATEST)
        status = "confirmed"
        if optin[list_id] == "double" and rng.random() < 0.1:
            status = "unconfirmed"  # never clicked the confirmation link
        updated = created
        left = rng.random() < 0.12 and not (keep_first and position == 0)
        if blocklisted or left:
            status, updated = "unsubscribed", _moment(rng, created, _LATEST)
        subscriptions.append(Subscription(list_id, status, created, updated))
    views, clicks = _tracking(rng, subscriptions)
    updated_at = max(s.updated_at for s in subscriptions)
    return SubscriberRecord(
        uuid=_uuid(rng),
        email=email,
        name=name,
        attribs=attribs,
        status="blocklisted" if blocklisted else "enabled",
        created_at=subscribed_at,
        updated_at=updated_at,
        subscriptions=tuple(subscriptions),
        views=views,
        clicks=clicks,
    )


def _tracking(
    rng: random.Random, subscriptions: list[Subscription]
) -> tuple[tuple[View, ...], tuple[Click, ...]]:
    """Views of campaigns received while subscribed (within the tracking window), and clicks."""
    window_start = _REFERENCE - timedelta(days=TRACKING_WINDOW_DAYS)
    engagement = rng.uniform(0.05, 0.5)
    views: list[View] = []
    clicks: list[Click] = []
    sent = catalogue()
    for subscription in subscriptions:
        if subscription.status == "unconfirmed":
            continue
        until = subscription.updated_at if subscription.status == "unsubscribed" else _REFERENCE
        first = max(subscription.created_at, window_start)
        for campaign in sent.sent_between(subscription.list_id, first, until):
            if rng.random() >= engagement:
                continue
            seen = _moment(
                rng, campaign.started_at, campaign.started_at + timedelta(hours=rng.randint(1, 96))
            )
            views.append(View(campaign.id, seen))
            if rng.random() < 0.3:
                link_id = rng.choice(campaign.link_ids)
                clicked = seen + timedelta(seconds=rng.randint(5, 900))
                clicks.append(Click(campaign.id, link_id, clicked))
    views.sort(key=lambda v: (v.created_at, v.campaign_id))
    clicks.sort(key=lambda c: (c.created_at, c.campaign_id))
    return tuple(views), tuple(clicks)
