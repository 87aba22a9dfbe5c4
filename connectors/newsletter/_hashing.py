"""The blocklist's key for an address: HMAC-SHA256, keyed with the shared salt, of the address
normalised (surrounding space removed, lower-cased), as lower-case hex.

Keyed, because a plain hash of an address is reversed by hashing candidate addresses. The
newsletter system computes the same hash on import to refuse erased addresses; both sides must
normalise alike, which is why normalisation lives beside the hash.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["blocklist_hash", "normalise_email"]


def normalise_email(address: str) -> str:
    return address.strip().lower()


def blocklist_hash(address: str, salt: str) -> str:
    return hmac.new(salt.encode(), normalise_email(address).encode(), hashlib.sha256).hexdigest()
