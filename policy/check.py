"""Does a policy fit the connectors that are registered? Pure: the caller passes what each
connector declares (its name and category names), so this works on any policy file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from policy.model import Policy

__all__ = ["policy_problems"]


def policy_problems(policy: Policy, connectors: Mapping[str, Iterable[str]]) -> list[str]:
    """What is wrong, one line each (empty: the policy covers every connector exactly).

    - every category a connector declares is covered (else its records would be planned as
      manual work with no rule to follow);
    - every system the policy names exists (a typo would silently cover nothing);
    - every category the policy names is one its connector declares (same reason).
    """
    problems: list[str] = []
    for system, declared in sorted(connectors.items()):
        categories = sorted(set(declared))
        covered = policy.systems.get(system)
        if covered is None:
            problems.append(f"{system}: connector is registered but the policy has no entry for it")
            continue
        problems += [
            f"{system}.{name}: declared by the connector, not covered by the policy"
            for name in categories
            if name not in covered.categories
        ]
        problems += [
            f"{system}.{name}: in the policy, but the connector declares no such category"
            for name in sorted(covered.categories)
            if name not in categories
        ]
    problems += [
        f"{system}: in the policy, but no such connector is registered"
        for system in sorted(policy.systems)
        if system not in connectors
    ]
    return problems
