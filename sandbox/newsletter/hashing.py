"""The blocklist's salted hash of an e-mail address: HMAC-SHA256 keyed with a secret salt.

A plain SHA-256 of an address can be reversed by hashing a list of candidate addresses; keyed
with a salt only the newsletter system and the DSR connector know, the hash is useless to anybody
else, yet still lets the system recognise the address when somebody tries to import it again.
The connector has its own copy of these two functions (production code never imports the
sandbox); the tests check that both give the same hash.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["DEFAULT_BLOCKLIST_SALT", "blocklist_hash", "normalise_email"]

# The sandbox's documented default; real deployments set their own secret salt.
DEFAULT_BLOCKLIST_SALT = "sandbox-newsletter-salt"


def normalise_email(address: str) -> str:
    """The form addresses are stored and hashed in: surrounding space removed, lower-cased."""
    return address.strip().lower()


def blocklist_hash(address: str, salt: str) -> str:
    """Lower-case hex HMAC-SHA256 of the normalised address, keyed with `salt` (UTF-8)."""
    return hmac.new(salt.encode(), normalise_email(address).encode(), hashlib.sha256).hexdigest()
