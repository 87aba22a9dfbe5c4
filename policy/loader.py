"""Reading a policy file: the one function in `policy/` that does I/O.

Called by the orchestrator (worker start, `dsr policy check|show`), never from workflow code:
the workflow receives the loaded `Policy` from an activity, so a changed file changes what new
requests do without a code change, and a running workflow never re-reads a file mid-flight.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import ValidationError

from policy.model import Policy, PolicyError

__all__ = ["DEFAULT_POLICY_FILE", "load_policy", "parse_policy"]

DEFAULT_POLICY_FILE = Path(__file__).with_name("default.yaml")


def parse_policy(text: bytes) -> Policy:
    """Validate YAML bytes as a policy; its digest is the sha256 of exactly these bytes."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise PolicyError("a policy file is a YAML mapping")
    document["digest"] = hashlib.sha256(text).hexdigest()
    try:
        return Policy.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise PolicyError(f"invalid policy: {problems}") from None


def load_policy(path: Path | None = None) -> Policy:
    """The policy in `path` (the shipped `policy/default.yaml` when None)."""
    source = path or DEFAULT_POLICY_FILE
    try:
        text = source.read_bytes()
    except OSError as error:
        raise PolicyError(f"cannot read policy file {source}: {error.strerror}") from None
    return parse_policy(text)
