"""The whole sandbox estate — five systems — as one thing: where each keeps its data, how it is
seeded, which servers run, and the connector settings that point at them.

Used by `dsr up`, `dsr sandbox seed`, the integration fixtures and the benchmarks, so all of
them run exactly the same systems the same way.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from devstack.localstack import ManagedProcess, free_port, sandbox_server

__all__ = ["HTTP_SYSTEMS", "SYSTEMS", "Estate"]

SYSTEMS = ("billing", "registrar", "hosting", "newsletter", "support")
HTTP_SYSTEMS = ("registrar", "newsletter", "support")


def _sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@dataclass
class Estate:
    """The five sandbox systems under `root`. Secrets are generated once per estate."""

    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for system in SYSTEMS:
            self.database_urls.setdefault(system, _sqlite(self.root / f"{system}.db"))
        for system in HTTP_SYSTEMS:
            self.ports.setdefault(system, free_port())
            self.secrets.setdefault(f"{system}_token", secrets.token_hex(16))
        self.secrets.setdefault("newsletter_salt", secrets.token_hex(16))

    @property
    def home_root(self) -> Path:
        return self.root / "hosting-home"

    def url(self, system: str) -> str:
        return f"http://127.0.0.1:{self.ports[system]}"

    def connector_env(self) -> dict[str, str]:
        """DSR_* settings for the five connectors, pointing at this estate."""
        return {
            "DSR_BILLING_DATABASE_URL": self.database_urls["billing"],
            "DSR_REGISTRAR_BASE_URL": self.url("registrar"),
            "DSR_REGISTRAR_API_TOKEN": self.secrets["registrar_token"],
            "DSR_HOSTING_DATABASE_URL": self.database_urls["hosting"],
            "DSR_HOSTING_HOME_ROOT": str(self.home_root),
            "DSR_NEWSLETTER_BASE_URL": self.url("newsletter"),
            "DSR_NEWSLETTER_API_USER": "dsr",
            "DSR_NEWSLETTER_API_TOKEN": self.secrets["newsletter_token"],
            "DSR_NEWSLETTER_BLOCKLIST_SALT": self.secrets["newsletter_salt"],
            "DSR_SUPPORT_BASE_URL": self.url("support"),
            "DSR_SUPPORT_API_TOKEN": self.secrets["support_token"],
        }

    def server_options(self, system: str) -> dict[str, str]:
        options = {"api_token": self.secrets[f"{system}_token"]}
        if system == "newsletter":
            options |= {"api_user": "dsr", "blocklist_salt": self.secrets["newsletter_salt"]}
        return options

    async def seed(self, customers: int, seed: int) -> dict[str, BaseModel]:
        """(Re)create every system's data from the same people (see `sandbox.presence`)."""
        from sandbox.billing.seed import seed_billing
        from sandbox.hosting.seed import seed_hosting
        from sandbox.newsletter.seed import seed_newsletter
        from sandbox.registrar.seed import seed_registrar
        from sandbox.support.seed import seed_support

        self.root.mkdir(parents=True, exist_ok=True)
        urls = self.database_urls
        summaries: dict[str, Any] = {
            "billing": await seed_billing(urls["billing"], customers, seed),
            "registrar": await seed_registrar(urls["registrar"], customers, seed),
            "hosting": await seed_hosting(
                urls["hosting"], customers, seed, home_root=self.home_root
            ),
            "newsletter": await seed_newsletter(
                urls["newsletter"], customers, seed, blocklist_salt=self.secrets["newsletter_salt"]
            ),
            "support": await seed_support(urls["support"], customers, seed),
        }
        return summaries

    def start_servers(self, log_dir: Path) -> list[ManagedProcess]:
        """The HTTP sandboxes (registrar, newsletter, support) under uvicorn on 127.0.0.1."""
        started: list[ManagedProcess] = []
        try:
            for system in HTTP_SYSTEMS:
                started.append(
                    sandbox_server(
                        system,
                        self.ports[system],
                        self.database_urls[system],
                        log_dir,
                        self.server_options(system),
                    )
                )
        except BaseException:
            for process in started:
                process.stop()
            raise
        return started
