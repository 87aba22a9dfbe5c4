"""The registrar sandbox's server options (`--option key=value` of `python -m sandbox.serve`).

Besides the API token and the page size, the options let tests and demos make the platform
behave like a real one on a bad day: slow, rate-limited, failing now and then, or moved behind a
redirect. Each fault is deterministic (every Nth admin request), so a test that relies on it is
repeatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

__all__ = ["DEFAULT_API_TOKEN", "RegistrarOptions"]

DEFAULT_API_TOKEN = "sandbox-registrar-token"  # noqa: S105 - the sandbox's documented default


@dataclass(frozen=True, slots=True)
class RegistrarOptions:
    api_token: str = DEFAULT_API_TOKEN
    max_page_size: int = 100  # the largest page any list returns, whatever the client asks
    rate_limit: int = 0  # admin requests per second before 429 (0: unlimited)
    retry_after: int = 1  # seconds announced in Retry-After on 429 and 503
    unavailable_every: int = 0  # every Nth admin request answers 503 (0: never)
    throttle_every: int = 0  # every Nth admin request answers 429 (0: never)
    redirect_every: int = 0  # every Nth admin request answers 302 elsewhere (0: never)
    latency: float = 0.0  # seconds added to every admin request

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> RegistrarOptions:
        """Options from strings; an unknown name or a bad value fails loudly (a typo in a
        fault option would otherwise make a test pass for the wrong reason)."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for name, raw in options.items():
            if name not in known:
                raise ValueError(f"unknown registrar option {name!r}; known: {', '.join(known)}")
            kind = known[name].type
            if kind in ("int", int):
                number = int(raw)
                if number < 0:
                    raise ValueError(f"registrar option {name!r} must not be negative")
                values[name] = number
            elif kind in ("float", float):
                seconds = float(raw)
                if not 0 <= seconds <= 60:
                    raise ValueError(f"registrar option {name!r} must be 0..60 seconds")
                values[name] = seconds
            else:
                if not raw:
                    raise ValueError(f"registrar option {name!r} must not be empty")
                values[name] = raw
        parsed = cls(**values)  # type: ignore[arg-type]  # checked per field above
        if parsed.max_page_size < 1:
            raise ValueError("registrar option 'max_page_size' must be at least 1")
        return parsed
