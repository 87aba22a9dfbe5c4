"""The account home directories on disk: count, list and remove them, safely.

Why it looks like this:
- A username comes from the database, so it is checked to be one plain directory name before it
  is joined to the root: nothing outside `<home_root>/<username>` is ever read or deleted.
- Symbolic links are never followed (a customer can create them over FTP): they are listed and
  removed as links, and a home directory that is itself a link is refused.
- Every walk runs in a worker thread, one directory at a time, so the event loop is never
  blocked and a listing never holds more than one directory's entries in memory.
- OSError messages name the path (and so the username): they are translated here into typed
  errors that name neither, raised `from None`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.base import ConfigurationError, ConnectorError, PermanentError, SystemUnavailable

__all__ = ["HomeFile", "HomeTree"]

_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class HomeFile:
    """One entry of a listing: `path` relative to the home directory, '/'-separated."""

    path: str
    size_bytes: int
    modified_at: datetime


def _translate(exc: OSError, action: str) -> ConnectorError:
    if isinstance(exc, PermissionError):
        return ConfigurationError(f"hosting home tree: permission denied while {action}")
    if exc.errno in (errno.EROFS,):
        return ConfigurationError(f"hosting home tree is read-only while {action}")
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return SystemUnavailable(f"hosting home tree failed while {action} ({name})")


def _scan(directory: Path) -> tuple[list[HomeFile], list[str]]:
    """One directory: its non-directory entries (as files) and its subdirectory names."""
    files: list[HomeFile] = []
    subdirectories: list[str] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.name)
                continue
            info = entry.stat(follow_symlinks=False)
            files.append(
                HomeFile(
                    path=entry.name,
                    size_bytes=info.st_size,
                    modified_at=datetime.fromtimestamp(int(info.st_mtime), UTC),
                )
            )
    files.sort(key=lambda f: f.path)
    subdirectories.sort()
    return files, subdirectories


def _count(home: Path) -> int:
    total = 0
    pending = [home]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                else:
                    total += 1
    return total


class HomeTree:
    """`<root>/<username>` for every account; the root must exist (it is the mounted share)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def __repr__(self) -> str:
        return "HomeTree(...)"  # the path may name the customer's server: not for logs

    def _home(self, username: str) -> Path:
        if not _SAFE_NAME.match(username):
            raise PermanentError("an account's username is not a plain directory name")
        return self._root / username

    def _existing_home(self, username: str) -> Path | None:
        """The home directory, None if it does not exist; raises if it is not a real one."""
        home = self._home(username)
        try:
            info = home.lstat()
        except FileNotFoundError:
            if not self._root.is_dir():
                raise SystemUnavailable("hosting home tree root is not available") from None
            return None
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise PermanentError("an account's home directory is not a plain directory")
        return home

    async def count_files(self, username: str) -> int:
        """Files (and links) anywhere under the account's home directory."""
        try:
            home = await asyncio.to_thread(self._existing_home, username)
            return 0 if home is None else await asyncio.to_thread(_count, home)
        except OSError as exc:
            raise _translate(exc, "counting files") from None

    async def files(self, username: str) -> AsyncIterator[HomeFile]:
        """Every file under the home directory, depth first in name order (never the content)."""
        try:
            home = await asyncio.to_thread(self._existing_home, username)
        except OSError as exc:
            raise _translate(exc, "listing files") from None
        if home is None:
            return
        pending: list[str] = [""]
        while pending:
            relative = pending.pop()
            try:
                found, subdirectories = await asyncio.to_thread(_scan, home / relative)
            except FileNotFoundError:  # removed while listing
                continue
            except OSError as exc:
                raise _translate(exc, "listing files") from None
            for file in found:
                path = f"{relative}/{file.path}" if relative else file.path
                yield HomeFile(path, file.size_bytes, file.modified_at)
            pending.extend(
                f"{relative}/{name}" if relative else name for name in reversed(subdirectories)
            )

    async def remove(self, username: str) -> int:
        """Delete the home directory with everything in it; returns the files it held."""
        try:
            home = await asyncio.to_thread(self._existing_home, username)
            if home is None:
                return 0
            count = await asyncio.to_thread(_count, home)
            # rmtree does not follow links inside the tree (it uses file descriptors on Linux).
            await asyncio.to_thread(shutil.rmtree, home)
            return count
        except OSError as exc:
            raise _translate(exc, "removing a home directory") from None
