"""Which seeded customer is known to which internal system — the same answer for every system's
seeder, so one person can be followed across all five.

The fixed cases of every block (see `sandbox.people`: the plain person, the company, the person
under two e-mail addresses, the two people sharing one address) exist in every system, so a
request about them reaches all five. Other customers are spread deterministically: everybody
is in billing; registrar holds those with domains; about half have hosting; some subscribe to the
newsletter; some have contacted support.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sandbox.people import BLOCK_SIZE, Customer

__all__ = ["EVERYWHERE_SLOTS", "Presence", "presence"]

# Slots of every block whose customers are present in all five systems.
EVERYWHERE_SLOTS = frozenset({0, 1, 10, 11, 30, 31})


@dataclass(frozen=True, slots=True)
class Presence:
    billing: bool
    registrar: bool
    hosting: bool
    newsletter: bool
    support: bool


def presence(customer: Customer, seed: int) -> Presence:
    if customer.index % BLOCK_SIZE in EVERYWHERE_SLOTS:
        return Presence(True, True, True, True, True)
    rng = random.Random(f"{seed}:presence:{customer.index}")
    draws = rng.random(), rng.random(), rng.random()
    return Presence(
        billing=True,
        registrar=bool(customer.domains),
        hosting=draws[0] < 0.5,
        newsletter=draws[1] < 0.4,
        support=draws[2] < 0.3,
    )
