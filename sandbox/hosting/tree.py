"""The control panel's home directories on disk: `<home_root>/<username>/public_html/...`.

The seeder owns the tree it writes: it leaves a marker file in `home_root` and only ever wipes a
directory that carries that marker (or is empty), so pointing it at the wrong folder fails
instead of deleting somebody's files. Modification times are set from the generated records, so
a file listing is the same on every run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path

from sandbox.hosting.records import HostingAccount

__all__ = ["MARKER", "prepare_home_root", "write_homes"]

MARKER = ".dsr-sandbox-hosting"


def prepare_home_root(home_root: Path) -> None:
    """An empty home root carrying the marker; refuses a non-empty folder it did not create."""
    if home_root.exists():
        if not home_root.is_dir():
            raise ValueError("home_root exists and is not a directory")
        entries = list(home_root.iterdir())
        if entries and not (home_root / MARKER).is_file():
            raise ValueError(
                "home_root is not empty and was not created by the hosting seeder; "
                "refusing to delete its contents"
            )
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    home_root.mkdir(parents=True, exist_ok=True)
    (home_root / MARKER).write_text("created by sandbox.hosting.seed; wiped on every seed\n")


def write_homes(home_root: Path, accounts: Iterable[HostingAccount]) -> int:
    """Write every account's files; returns how many files were written."""
    written = 0
    for account in accounts:
        home = home_root / account.username
        for file in account.files:
            target = home.joinpath(*file.path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.content)
            stamp = int(file.modified_at.replace(tzinfo=UTC).timestamp())  # records: naive UTC
            os.utime(target, (stamp, stamp))
            written += 1
    return written
