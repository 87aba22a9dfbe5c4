"""The access package (Art. 15 access, Art. 20 portability): its reference, manifest and the
calls that build and expire it.

The workflow, the status topic and the completion record carry only a `PackageRef`: where the
encrypted archive is, when it expires, its ciphertext digest — never the data. The manifest
lists the archive's files with their SHA-256 (of the plaintext, so the recipient can check
what they were handed); it is stored encrypted beside the archive, with the same key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Not schemas.events' enums: the status event carries a PackageRef, so this module must not
# import schemas.events (the request kind and locale are their plain values here).
PackageKind = Literal["access", "portability"]
PackageLocale = Literal["sv", "en"]

__all__ = [
    "ExpiryCall",
    "ExpiryOutcome",
    "PackageBuild",
    "PackageFile",
    "PackageKind",
    "PackageLocale",
    "PackageManifest",
    "PackageRef",
    "PackagedSystem",
    "package_reference",
]


def package_reference(request_id: str) -> str:
    """The opaque reference the portal and the DPO see (`dsr package show ID` resolves it)."""
    return f"dsr-package:{request_id}"


class PackageRef(BaseModel):
    """Where a request's encrypted package is and until when. Never holds personal data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    location: str  # storage key of the encrypted archive (inside DSR_PACKAGE_DIR or a bucket)
    created_at: AwareDatetime
    expires_at: AwareDatetime
    size_bytes: int = Field(ge=0)
    sha256: str  # of the encrypted archive as stored
    files: int = Field(ge=0)
    deleted_at: AwareDatetime | None = None

    @property
    def reference(self) -> str:
        return package_reference(self.request_id)


class PackageFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str
    size_bytes: int = Field(ge=0)
    media_type: str
    system: str | None = None
    category: str | None = None
    records: int | None = None


class PackageManifest(BaseModel):
    """What the archive holds: every file with its SHA-256, and what the package was built for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    kind: PackageKind
    locale: PackageLocale
    created_at: AwareDatetime
    expires_at: AwareDatetime
    policy_version: str
    files: list[PackageFile]
    # Categories held but left out (portability covers only what the policy marks portable).
    excluded: dict[str, list[str]] = Field(default_factory=dict)


class PackagedSystem(BaseModel):
    """One system's export as the connector activity reported it (records per category)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    counts: dict[str, int] = Field(default_factory=dict)
    # Categories the system holds for the subject that the plan left out of its export (their
    # records were not written, so `counts` has none of them): names only, for the manifest.
    excluded: list[str] = Field(default_factory=list)


class PackageBuild(BaseModel):
    """The workflow's call to assemble the package from the systems' encrypted parts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    kind: PackageKind  # portability: only the categories the policy marks portable
    locale: PackageLocale
    created_at: AwareDatetime  # workflow.now(): deterministic
    systems: list[PackagedSystem]


class ExpiryCall(BaseModel):
    """Input of the expiry timer: when the package expires (no personal data: the timer runs
    under the master key and outlives the request's own data key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    expires_at: AwareDatetime
    # The timer's clock (workflow.now() when it fired): the durable timer, not the activity
    # worker's wall clock, says when the package is due.
    now: AwareDatetime | None = None


class ExpiryOutcome(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    package_deleted: bool = False
    key_destroyed: bool = False
    # Set when something still needs the key (request open, retention extended): wake then.
    retry_at: AwareDatetime | None = None
