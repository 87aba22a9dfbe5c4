"""`dsr up` seeds the sandbox systems once, to the end: a stop during the first start's
seeding (support, the last, half loaded) is seeded again by the next start, not taken for
done; a finished seeding is not repeated; a folder seeded before the markers counts as done."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import sandbox.support.seed as support_seed
from devstack import up
from devstack.estate import Estate


def _users(estate: Estate) -> int:
    with sqlite3.connect(estate.root / "support.db") as db:
        return int(db.execute("select count(*) from users").fetchone()[0])


def test_a_stop_during_seeding_is_seeded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = Estate(root=tmp_path / "sandbox")
    real = support_seed._Loader.load_customers

    async def interrupted(self: object, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while support's rows load

    monkeypatch.setattr(support_seed._Loader, "load_customers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        up.seed_once(estate, 5)
    assert _users(estate) == 0 and not (estate.root / up.SEEDED_MARKER).exists()

    monkeypatch.setattr(support_seed._Loader, "load_customers", real)
    assert up.seed_once(estate, 5) is not None  # the next start seeds again
    assert _users(estate) > 0
    assert up.seed_once(estate, 5) is None  # and once done, never again


def test_a_folder_seeded_before_the_markers_counts_as_seeded(tmp_path: Path) -> None:
    estate = Estate(root=tmp_path / "sandbox")
    up.seed_once(estate, 5)
    (estate.root / up.SEEDED_MARKER).unlink()  # as a folder from before the markers
    assert up.seed_once(estate, 5) is None
    assert (estate.root / up.SEEDED_MARKER).exists()
