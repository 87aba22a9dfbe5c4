"""The newsletter sandbox's options (`--option key=value` on `python -m sandbox.serve`).

Parsed strictly: an unknown key or a bad value stops the server at start, rather than running a
sandbox that silently ignores what a test asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sandbox.newsletter.hashing import DEFAULT_BLOCKLIST_SALT

__all__ = ["NewsletterOptions"]


@dataclass(frozen=True)
class NewsletterOptions:
    """- `api_user`, `api_token`: the credentials listmonk checks (basic or token auth);
    - `blocklist_salt`: the HMAC key of blocklisted address hashes (shared with the connector);
    - `rate_limit`: API requests allowed per second, 0 for no limit; above it 429 + Retry-After;
    - `retry_after`: the seconds a 429 asks the client to wait;
    - `fail_requests`: the first N API requests answer 503 (an outage the client rides out);
    - `max_per_page`: the largest page a client may ask for (listmonk's `all` is refused).
    """

    api_user: str = "dsr"
    api_token: str = "sandbox-newsletter-token"  # noqa: S105 - the sandbox's documented default
    blocklist_salt: str = DEFAULT_BLOCKLIST_SALT
    rate_limit: float = 0.0
    retry_after: int = 1
    fail_requests: int = 0
    max_per_page: int = 1000

    @classmethod
    def parse(cls, options: dict[str, str]) -> NewsletterOptions:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"unknown newsletter sandbox options: {', '.join(unknown)}")
        values: dict[str, object] = {}
        for key, raw in options.items():
            kind = type(getattr(cls(), key))
            try:
                values[key] = kind(raw)
            except ValueError:
                raise ValueError(
                    f"newsletter sandbox option {key} must be a {kind.__name__}"
                ) from None
        parsed = cls(**values)  # type: ignore[arg-type]  # values are typed per field above
        if not parsed.api_user or not parsed.api_token or not parsed.blocklist_salt:
            raise ValueError("api_user, api_token and blocklist_salt must not be empty")
        if parsed.rate_limit < 0 or parsed.retry_after < 0 or parsed.fail_requests < 0:
            raise ValueError("rate_limit, retry_after and fail_requests must not be negative")
        if parsed.max_per_page < 1:
            raise ValueError("max_per_page must be at least 1")
        return parsed
