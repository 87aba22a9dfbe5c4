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
    """Write every account's files; returns how many files were written.

    Plain `os` calls, each directory made once: a million customers' homes are millions of
    small files, and pathlib's objects and a failed mkdir per file were half the time."""
    written = 0
    root = os.fspath(home_root)
    made: set[str] = set()
    for account in accounts:
        home = os.path.join(root, account.username)
        for file in account.files:
            target = os.path.join(home, *file.path.split("/"))
            parent = os.path.dirname(target)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            stamp = int(file.modified_at.replace(tzinfo=UTC).timestamp())  # records: naive UTC
            _write(target, file.content, stamp)
            written += 1
    return written


def _write(path: str, content: bytes, stamp: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.utime(fd, (stamp, stamp))
    finally:
        os.close(fd)
