"""What the telemetry tests share: scraping an endpoint, reading samples, collecting spans, and
the personal-data scan over all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from prometheus_client.parser import text_string_to_metric_families

from sandbox.people import Customer

Labels = dict[str, str]


@dataclass(frozen=True)
class Scrape:
    """One scrape of a /metrics endpoint: its raw text and every sample in it."""

    text: str
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """A sample's value (0 if absent: counters and histograms start at nothing)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def label_values(self) -> set[str]:
        return {value for _, labels in self.samples for _, value in labels}

    def label_names(self, prefix: str) -> set[str]:
        return {k for n, labels in self.samples if n.startswith(prefix) for k, _ in labels}


def parse(text: str) -> Scrape:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(text, samples)


async def scrape(base_url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{base_url}/metrics")
    response.raise_for_status()
    return parse(response.text)


async def scrape_until(
    base_url: str, condition: Callable[[Scrape], bool], timeout: float = 30
) -> Scrape:
    """Scrape until `condition` holds (a deadline, not a guessed sleep)."""
    async with asyncio.timeout(timeout):
        while True:
            result = await scrape(base_url)
            if condition(result):
                return result
            await asyncio.sleep(0.2)


def personal_values(person: Customer) -> list[str]:
    """What must never appear: the subject's e-mail, personnummer (12 and 10 digits), full name
    and phone (also without its +)."""
    values = [person.email, person.name, person.phone, person.phone.lstrip("+")]
    if person.personal_identity_number:
        values += [person.personal_identity_number, person.personal_identity_number[2:]]
    return [v for v in values if v]


def span_texts(spans: Iterable[ReadableSpan]) -> Iterator[str]:
    """Every string a span exports: name, attribute keys and values, events, links, status and
    resource."""
    for span in spans:
        yield span.name
        yield span.status.description or ""
        for attributes in (
            span.attributes,
            span.resource.attributes,
            *(e.attributes for e in span.events),
            *(link.attributes for link in span.links),
        ):
            for key, value in (attributes or {}).items():
                yield key
                yield str(value)
        for event in span.events:
            yield event.name


def leaks(texts: Iterable[str], person: Customer) -> list[tuple[str, str]]:
    """(personal value, text) for every text containing one, case-insensitively."""
    needles = [v.lower() for v in personal_values(person)]
    return [(n, t) for t in texts for n in needles if n in t.lower()]
