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

from policy.model import LegalBasis, Policy, PolicyError

__all__ = ["DEFAULT_POLICY_FILE", "PORTABLE_BASES", "load_policy", "parse_policy"]

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
        policy = Policy.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise PolicyError(f"invalid policy: {problems}") from None
    problems = "; ".join(_portability_problems(policy))
    if problems:
        raise PolicyError(f"invalid policy: {problems}")
    return policy


# Art. 20(1)(a): portability covers data processed on consent (6(1)(a)) or for a contract
# (6(1)(b)); the policy text: "den lagliga grunden ... utgörs av samtycke eller ... avtal".
PORTABLE_BASES = frozenset({LegalBasis.CONSENT, LegalBasis.CONTRACT})


def _portability_problems(policy: Policy) -> list[str]:
    """Categories marked `portable` on another legal basis, in the loader's wording.

    Checked here, on the file, not by a validator of the model: a workflow receives its policy
    as an activity result and decodes it into `Policy`, so a rule in the model would refuse the
    policy an old history recorded (tests/test_replay.py) instead of a file about to be used."""
    return [
        f"systems.{system}.categories.{name}: `portable: true` needs legal_basis consent or "
        f"contract (Art. 20(1)(a)), not {category.legal_basis.value}"
        for system, system_policy in policy.systems.items()
        for name, category in system_policy.categories.items()
        if category.portable and category.legal_basis not in PORTABLE_BASES
    ]


def load_policy(path: Path | None = None) -> Policy:
    """The policy in `path` (the shipped `policy/default.yaml` when None)."""
    source = path or DEFAULT_POLICY_FILE
    try:
        text = source.read_bytes()
    except OSError as error:
        raise PolicyError(f"cannot read policy file {source}: {error.strerror}") from None
    return parse_policy(text)
