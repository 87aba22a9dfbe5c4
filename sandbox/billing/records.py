"""What one customer did in the billing system: invoices, payments, cards on file, logins.

Deterministic per customer (`random.Random` seeded with the sandbox seed and the row index), so
`customer_activity(customer, seed)` gives exactly the rows the seeder wrote, without a database:
tests use it to know the expected counts of any seeded customer.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sandbox.people import REFERENCE_DATE, Customer
from schemas.identifiers import luhn_check_digit

__all__ = [
    "CardToken",
    "CustomerActivity",
    "Invoice",
    "InvoiceLine",
    "LoginSession",
    "Payment",
    "customer_activity",
    "financial_year_end",
]

VAT_PERCENT = 25

_HOSTING_PLANS = (  # (name, price per month excl. VAT in öre)
    ("Webbhotell Start", 4900),
    ("Webbhotell Bas", 9900),
    ("Webbhotell Pro", 19900),
)
_SERVER_PLANS = (("VPS Small", 19900), ("VPS Medium", 39900), ("VPS Large", 79900))
_DOMAIN_PRICE = {"se": 17900, "nu": 19900, "com": 14900}  # per year excl. VAT
_EXTRAS = (  # (name, price excl. VAT in öre, per month?)
    ("E-post Plus", 2900, True),
    ("Backup Plus", 1900, True),
    ("SSL-certifikat", 49900, False),
)
_IPV4_PREFIXES = ("78.67", "81.229", "90.224", "94.234", "155.4", "213.64", "85.224", "83.248")
_IPV6_PREFIXES = (0x2001_09B1, 0x2A02_0AA1, 0x2001_2002, 0x2A00_0801)
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0",
    "Mozilla/5.0 (Linux; Android 15; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0",
)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    quantity: int
    unit_price_ore: int


@dataclass(frozen=True, slots=True)
class Payment:
    paid_on: date
    amount_ore: int
    method: str
    reference: str


@dataclass(frozen=True, slots=True)
class Invoice:
    issued_on: date
    due_on: date
    financial_year_end: date
    buyer_name: str
    buyer_address: str
    lines: tuple[InvoiceLine, ...]
    vat_ore: int
    total_ore: int
    payments: tuple[Payment, ...]


@dataclass(frozen=True, slots=True)
class CardToken:
    token: str
    last4: str
    brand: str
    expires: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoginSession:
    started_at: datetime
    ip_address: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class CustomerActivity:
    invoices: tuple[Invoice, ...]
    card_tokens: tuple[CardToken, ...]
    login_sessions: tuple[LoginSession, ...]

    @property
    def invoice_lines(self) -> int:
        return sum(len(i.lines) for i in self.invoices)

    @property
    def payments(self) -> int:
        return sum(len(i.payments) for i in self.invoices)


def financial_year_end(day: date) -> date:
    """The company's financial year is the calendar year."""
    return date(day.year, 12, 31)


def customer_activity(customer: Customer, seed: int) -> CustomerActivity:
    rng = random.Random(f"sandbox-billing:{seed}:{customer.index}")
    invoices = _invoices(rng, customer)
    tokens = _card_tokens(rng, customer, invoices)
    sessions = _login_sessions(rng, customer)
    return CustomerActivity(invoices, tokens, sessions)


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _billing_end(customer: Customer) -> date:
    if customer.closed_at is not None:
        return customer.closed_at.date()
    return REFERENCE_DATE


def _invoices(rng: random.Random, customer: Customer) -> tuple[Invoice, ...]:
    start = customer.created_at.date()
    end = _billing_end(customer)
    months_per_invoice = 12
    base: list[InvoiceLine] = []
    if customer.kind == "company" and rng.random() < 0.4:
        months_per_invoice = 3
        name, price = rng.choice(_SERVER_PLANS)
        base.append(InvoiceLine(f"{name}, 3 mån", 3, price))
    elif not customer.domains or rng.random() < 0.75:
        name, price = rng.choice(_HOSTING_PLANS)
        months = months_per_invoice
        base.append(InvoiceLine(f"{name}, {months} mån", months, price))
    for extra, price, monthly in _EXTRAS:
        if rng.random() < 0.15:
            qty = months_per_invoice if monthly else 1
            unit = "mån" if monthly else "år"
            base.append(InvoiceLine(f"{extra}, {qty} {unit}", qty, price))
    buyer_name = customer.name
    if customer.kind == "company" and customer.contact_name:
        buyer_name = f"{customer.name}, att. {customer.contact_name}"
    result: list[Invoice] = []
    step = 0
    while (issued := _add_months(start, step * months_per_invoice)) <= end:
        lines = list(base)
        if step * months_per_invoice % 12 == 0:  # domains renew once a year
            for domain in customer.domains:
                tld = domain.rsplit(".", 1)[-1]
                lines.append(InvoiceLine(f"Domän {domain}, 1 år", 1, _DOMAIN_PRICE[tld]))
        if not lines:  # domain-only customers between renewals
            step += 1
            continue
        net = sum(line.quantity * line.unit_price_ore for line in lines)
        vat = net * VAT_PERCENT // 100
        due = issued + timedelta(days=30 if customer.kind == "person" else 20)
        result.append(
            Invoice(
                issued_on=issued,
                due_on=due,
                financial_year_end=financial_year_end(issued),
                buyer_name=buyer_name,
                buyer_address=customer.address,
                lines=tuple(lines),
                vat_ore=vat,
                total_ore=net + vat,
                payments=_payments(rng, customer, issued, net + vat),
            )
        )
        step += 1
    return tuple(result)


def _payments(
    rng: random.Random, customer: Customer, issued: date, total: int
) -> tuple[Payment, ...]:
    settled = issued + timedelta(days=45) <= REFERENCE_DATE
    if rng.random() >= (0.97 if settled else 0.6):
        return ()
    if customer.kind == "company":
        method = "bankgiro" if rng.random() < 0.8 else "card"
    else:
        method = rng.choices(("card", "swish", "bankgiro"), weights=(5, 3, 2))[0]
    paid_on = min(issued + timedelta(days=rng.randint(0, 35)), REFERENCE_DATE)
    amounts = [total]
    if rng.random() < 0.04 and total >= 200:  # paid in two parts
        first = total // 2
        amounts = [first, total - first]
    result = []
    for n, amount in enumerate(amounts):
        result.append(
            Payment(
                paid_on=min(paid_on + timedelta(days=14 * n), REFERENCE_DATE),
                amount_ore=amount,
                method=method,
                reference=_payment_reference(rng, customer, issued, method),
            )
        )
    return tuple(result)


def _payment_reference(rng: random.Random, customer: Customer, issued: date, method: str) -> str:
    if method == "card":
        return f"ch_{rng.getrandbits(96):024x}"
    if method == "swish":
        return f"{rng.getrandbits(128):032X}"
    digits = f"{customer.customer_number[1:]}{issued:%y%m}"  # OCR: customer number + period
    return f"{digits}{luhn_check_digit(digits)}"


def _card_tokens(
    rng: random.Random, customer: Customer, invoices: tuple[Invoice, ...]
) -> tuple[CardToken, ...]:
    card_days = [p.paid_on for i in invoices for p in i.payments if p.method == "card"]
    if not card_days or customer.status == "anonymised":
        return ()
    if customer.status == "closed" and rng.random() >= 0.3:
        return ()
    created = [card_days[0]]
    if len(card_days) > 2 and rng.random() < 0.25:  # the card was replaced once
        created.append(card_days[len(card_days) // 2])
    result = []
    for day in created:
        brand = rng.choices(("visa", "mastercard", "amex"), weights=(60, 35, 5))[0]
        expiry = _add_months(day, rng.randint(24, 60))
        result.append(
            CardToken(
                token=f"tok_{rng.getrandbits(96):024x}",
                last4=f"{rng.randint(0, 9999):04d}",
                brand=brand,
                expires=f"{expiry:%Y-%m}",
                created_at=_moment(rng, day),
            )
        )
    return tuple(result)


def _login_sessions(rng: random.Random, customer: Customer) -> tuple[LoginSession, ...]:
    if customer.status == "anonymised":
        return ()
    if customer.status == "closed":
        if rng.random() >= 0.5 or customer.closed_at is None:
            return ()
        last, count = customer.closed_at.date(), rng.randint(1, 4)
    else:
        last, count = REFERENCE_DATE, rng.randint(0, 8)
    first = max(last - timedelta(days=180), customer.created_at.date())
    span = max((last - first).days, 0)
    days = sorted(first + timedelta(days=rng.randint(0, span)) for _ in range(count))
    agents = rng.sample(_USER_AGENTS, k=2)
    return tuple(
        LoginSession(
            started_at=_moment(rng, day),
            ip_address=_ip_address(rng),
            user_agent=agents[0] if rng.random() < 0.8 else agents[1],
        )
        for day in days
    )


def _ip_address(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return f"{rng.choice(_IPV4_PREFIXES)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    prefix = rng.choice(_IPV6_PREFIXES)
    value = (prefix << 96) | (rng.getrandbits(32) << 64) | rng.getrandbits(64)
    return ipaddress.IPv6Address(value).compressed


def _moment(rng: random.Random, day: date) -> datetime:
    return datetime.combine(
        day, time(rng.randint(6, 23), rng.randint(0, 59), rng.randint(0, 59)), tzinfo=UTC
    )
