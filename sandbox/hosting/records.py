"""What one customer has in the shared-hosting control panel, generated without a database.

`hosting_account(customer, seed)` gives the customer's account (or None) with its domains,
mailboxes, databases, FTP users, control-panel access log, backups and the files in its home
directory. It is deterministic (one `random.Random` per customer, seeded with the sandbox seed
and the row index), so the seeder writes exactly this and tests know the expected counts of any
seeded customer without reading the database.

Who has an account is decided by `sandbox.presence` (the same answer every system's seeder
gets); customers anonymised earlier had their hosting data erased then, so they have none.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sandbox.people import REFERENCE_DATE, Customer, ascii_fold
from sandbox.presence import presence

__all__ = [
    "BACKUP_MONTHS",
    "AccessLogEntry",
    "Backup",
    "FtpUser",
    "HomeFile",
    "HostedDatabase",
    "HostingAccount",
    "Mailbox",
    "add_months",
    "hosting_account",
]

BACKUP_MONTHS = 3  # the policy: "Backuper för shared hosting (Webbhotell) raderas efter 3 månader"
_BACKUP_EVERY = timedelta(days=7)
_BACKUPS_PER_PERIOD = 13  # weekly over the last three months (0, 7, ..., 84 days back)
_LOG_DAYS = 30  # the panel keeps its access log for a month

_PLANS = ("Webbhotell Start", "Webbhotell Bas", "Webbhotell Pro")
_COMPANY_MAILBOXES = ("info", "kontakt", "faktura", "order", "support", "ekonomi")
_PERSON_MAILBOXES = ("info", "kontakt", "post")
_DATABASE_SUFFIXES = ("wp", "shop", "db", "forum")
_PANEL_PATHS = (
    ("GET", "/", 200),
    ("GET", "/mail", 200),
    ("GET", "/mail/accounts", 200),
    ("POST", "/mail/accounts", 302),
    ("GET", "/databases", 200),
    ("GET", "/files", 200),
    ("POST", "/files/upload", 201),
    ("GET", "/ftp", 200),
    ("GET", "/backups", 200),
    ("GET", "/stats", 200),
    ("GET", "/dns", 200),
    ("GET", "/favicon.ico", 404),
)
_IPV4_PREFIXES = ("78.67", "81.229", "90.224", "94.234", "155.4", "213.64", "85.224", "83.248")
_IPV6_PREFIXES = (0x2001_09B1, 0x2A02_0AA1, 0x2001_2002, 0x2A00_0801)
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0",
    "Mozilla/5.0 (Linux; Android 15; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Mobile Safari/537.36",
    "FileZilla/3.69.1",
)


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str
    quota_mb: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HostedDatabase:
    name: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class FtpUser:
    login: str
    home_path: str


@dataclass(frozen=True, slots=True)
class AccessLogEntry:
    at: datetime
    ip_address: str
    method: str
    path: str
    status: int
    user_agent: str


@dataclass(frozen=True, slots=True)
class Backup:
    created_at: datetime
    expires_at: datetime
    path: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class HomeFile:
    """A file in the account's home directory: `path` is relative to it, with '/' separators."""

    path: str
    content: bytes
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class HostingAccount:
    """One control-panel account. All times are UTC (naive, as the panel stores them)."""

    username: str
    customer_number: str
    owner_name: str
    email: str
    phone: str
    plan: str
    status: str  # active, suspended or closed
    created_at: datetime
    closed_at: datetime | None
    domains: tuple[str, ...]
    mailboxes: tuple[Mailbox, ...]
    databases: tuple[HostedDatabase, ...]
    ftp_users: tuple[FtpUser, ...]
    access_logs: tuple[AccessLogEntry, ...]
    backups: tuple[Backup, ...]
    files: tuple[HomeFile, ...]

    @property
    def in_service(self) -> bool:
        """An active service: active, or suspended but not terminated (the contract runs on)."""
        return self.closed_at is None

    def __repr__(self) -> str:  # never print the owner's details
        return f"HostingAccount({self.customer_number}, {self.status})"


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the last day of a shorter month)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def hosting_account(customer: Customer, seed: int) -> HostingAccount | None:
    """The customer's control-panel account, or None if the customer has no hosting."""
    if customer.status == "anonymised" or not presence(customer, seed).hosting:
        return None
    rng = random.Random(f"sandbox-hosting:{seed}:{customer.index}")
    username = _username(customer)
    status, closed_at = _status(rng, customer)
    created_at = _naive(customer.created_at) + timedelta(days=rng.randint(0, 20))
    if closed_at is not None:
        created_at = min(created_at, closed_at - timedelta(days=30))
    last_seen = closed_at or datetime.combine(REFERENCE_DATE, time(0, 0))
    domains = tuple(d.lower() for d in customer.domains)
    databases = _databases(rng, username)
    return HostingAccount(
        username=username,
        customer_number=customer.customer_number,
        owner_name=customer.contact_name or customer.name,
        email=customer.email.lower(),
        phone=customer.phone,
        plan=rng.choice(_PLANS[1:] if customer.kind == "company" else _PLANS),
        status=status,
        created_at=created_at,
        closed_at=closed_at,
        domains=domains,
        mailboxes=_mailboxes(rng, customer, domains, created_at),
        databases=databases,
        ftp_users=_ftp_users(rng, username),
        access_logs=_access_logs(rng, closed_at is not None, created_at, last_seen),
        backups=_backups(rng, username, created_at, closed_at),
        files=_files(rng, customer, username, domains, databases, created_at, last_seen),
    )


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _username(customer: Customer) -> str:
    """Letters of the owner's name and the row number: unique, and a safe directory name."""
    letters = "".join(c for c in ascii_fold(customer.name) if c.isascii() and c.isalpha())
    return f"{letters[:8] or 'kund'}{customer.index + 1}"


def _status(rng: random.Random, customer: Customer) -> tuple[str, datetime | None]:
    """Active customers: mostly active, a few suspended (unpaid, contract still running).
    Closed customers: closed, or suspended and then terminated without being closed."""
    if customer.status == "closed":
        closed_at = _naive(customer.closed_at) if customer.closed_at else None
        return ("suspended" if rng.random() < 0.2 else "closed"), closed_at
    return ("suspended" if rng.random() < 0.05 else "active"), None


def _mailboxes(
    rng: random.Random, customer: Customer, domains: tuple[str, ...], created_at: datetime
) -> tuple[Mailbox, ...]:
    if not domains:
        return ()
    domain = domains[0]
    if customer.kind == "company":
        # The contact person's own address is on the company's domain: it is a mailbox here.
        local_parts = [customer.email.split("@", 1)[0].lower()]
        local_parts += rng.sample(_COMPANY_MAILBOXES, k=rng.randint(1, 3))
    else:
        first = "".join(c for c in ascii_fold(customer.first_name.split()[0]) if c.isalpha())
        local_parts = [first or "hej"]
        local_parts += rng.sample(_PERSON_MAILBOXES, k=rng.randint(0, 2))
    return tuple(
        Mailbox(
            address=f"{local}@{domain}",
            quota_mb=rng.choice((1024, 2048, 5120, 10240)),
            created_at=created_at + timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 600)),
        )
        for local in local_parts
    )


def _databases(rng: random.Random, username: str) -> tuple[HostedDatabase, ...]:
    count = rng.choice((0, 1, 1, 1, 2, 3))
    return tuple(
        HostedDatabase(name=f"{username}_{suffix}", size_bytes=rng.randint(1, 800) * 1024 * 1024)
        for suffix in _DATABASE_SUFFIXES[:count]
    )


def _ftp_users(rng: random.Random, username: str) -> tuple[FtpUser, ...]:
    users = [FtpUser(login=username, home_path=f"/home/{username}")]
    if rng.random() < 0.3:
        users.append(FtpUser(login=f"{username}_webb", home_path=f"/home/{username}/public_html"))
    return tuple(users)


def _ip_address(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return f"{rng.choice(_IPV4_PREFIXES)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    prefix = rng.choice(_IPV6_PREFIXES)
    value = (prefix << 96) | (rng.getrandbits(32) << 64) | rng.getrandbits(64)
    return ipaddress.IPv6Address(value).compressed


def _access_logs(
    rng: random.Random, closed: bool, created_at: datetime, last_seen: datetime
) -> tuple[AccessLogEntry, ...]:
    """The owner's visits to the control panel over the last month of the account's life."""
    count = rng.randint(0, 8) if closed else rng.randint(10, 60)
    first = max(created_at, last_seen - timedelta(days=_LOG_DAYS))
    span = max(int((last_seen - first).total_seconds()), 1)
    addresses = [_ip_address(rng) for _ in range(rng.randint(1, 3))]
    agents = rng.sample(_USER_AGENTS, k=2)
    moments = sorted(first + timedelta(seconds=rng.randrange(span)) for _ in range(count))
    entries: list[AccessLogEntry] = []
    for moment in moments:
        ip = rng.choice(addresses)
        agent = agents[0] if rng.random() < 0.85 else agents[1]
        if rng.random() < 0.15:
            failed = rng.random() < 0.2
            method, path, status = "POST", "/login", 401 if failed else 302
        else:
            method, path, status = rng.choice(_PANEL_PATHS)
        entries.append(AccessLogEntry(moment, ip, method, path, status, agent))
    return tuple(entries)


def _backups(
    rng: random.Random, username: str, created_at: datetime, closed_at: datetime | None
) -> tuple[Backup, ...]:
    """Weekly backups over the three months before the account's last day; the backup system
    has already deleted the ones that expired before the sandbox's today."""
    today = datetime.combine(REFERENCE_DATE, time(0, 0))
    last_day = closed_at.date() if closed_at else REFERENCE_DATE  # today's ran at night
    at = time(2, rng.randint(0, 59), rng.randint(0, 59))
    size = rng.randint(20, 900) * 1024 * 1024
    result: list[Backup] = []
    for week in range(_BACKUPS_PER_PERIOD):
        taken = datetime.combine(last_day - week * _BACKUP_EVERY, at)
        if taken < created_at:
            continue
        expires = add_months(taken, BACKUP_MONTHS)
        if expires <= today:
            continue
        result.append(
            Backup(
                created_at=taken,
                expires_at=expires,
                path=f"/backup/{taken:%Y-%m-%d}/{username}.tar.gz",
                size_bytes=size + rng.randint(0, 4 * 1024 * 1024),
            )
        )
    return tuple(sorted(result, key=lambda b: b.created_at))


def _files(
    rng: random.Random,
    customer: Customer,
    username: str,
    domains: tuple[str, ...],
    databases: tuple[HostedDatabase, ...],
    created_at: datetime,
    last_seen: datetime,
) -> tuple[HomeFile, ...]:
    """A few small files under public_html/: a site's front page, a contact page, some assets."""
    site = domains[0] if domains else f"{username}.webbhotell.example"
    span = max((last_seen - created_at).days, 1)

    def moment() -> datetime:
        return created_at + timedelta(days=rng.randint(0, span), seconds=rng.randint(0, 86399))

    title = customer.name
    files = [
        HomeFile(
            "public_html/index.html",
            f'<!doctype html>\n<html lang="sv"><title>{title}</title>\n'
            f"<h1>Välkommen till {site}</h1>\n</html>\n".encode(),
            moment(),
        ),
        HomeFile(
            "public_html/css/style.css",
            f"body {{ font-family: sans-serif; color: #{rng.getrandbits(24):06x}; }}\n".encode(),
            moment(),
        ),
    ]
    if rng.random() < 0.7:
        files.append(
            HomeFile(
                "public_html/kontakt.html",
                f"<p>Kontakta oss: {customer.email} eller {customer.phone}</p>\n".encode(),
                moment(),
            )
        )
    if rng.random() < 0.5:
        files.append(HomeFile("public_html/images/logo.png", rng.randbytes(64), moment()))
    if any(d.name.endswith("_wp") for d in databases):
        files.append(
            HomeFile(
                "public_html/wp-config.php",
                f"<?php\ndefine('DB_NAME', '{username}_wp');\n".encode(),
                moment(),
            )
        )
    return tuple(files)
