"""`scaffold_connector`: write a new connector's package, contract test and docs page.

Nothing is overwritten, ever: the name is checked, every target is checked, every file is
rendered, and only then is anything written (each file created exclusively). If writing fails
half-way, the files already written are removed again, so a failed run leaves no half connector.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

from connectors.base import ENTRY_POINT_GROUP
from connectors.scaffold._names import ConnectorNames, ScaffoldError, connector_names
from connectors.scaffold._render import render

__all__ = ["ScaffoldResult", "entry_point_line", "next_steps", "scaffold_connector"]

# (template under templates/, target relative to the project root)
_FILES = (
    ("package/__init__.py.tmpl", "connectors/{name}/__init__.py"),
    ("package/_connector.py.tmpl", "connectors/{name}/_connector.py"),
    ("package/_settings.py.tmpl", "connectors/{name}/_settings.py"),
    ("package/_errors.py.tmpl", "connectors/{name}/_errors.py"),
    ("package/_client.py.tmpl", "connectors/{name}/_client.py"),
    ("test_connector.py.tmpl", "tests/connectors/test_{name}.py"),
    ("connector.md.tmpl", "docs/connectors/{name}.md"),
)


class ScaffoldResult(list[Path]):
    """The files written, in order (it is that list), and the entry-point line to register."""

    def __init__(self, files: Iterable[Path], entry_point: str) -> None:
        super().__init__(files)
        self.entry_point = entry_point

    @property
    def files(self) -> list[Path]:
        return list(self)


def entry_point_line(name: str) -> str:
    """`NAME = "connectors.NAME:ClassConnector"`, for `[project.entry-points."dsr.connectors"]`."""
    return connector_names(name).entry_point


def scaffold_connector(name: str, root: Path) -> ScaffoldResult:
    """Write `connectors/<name>/`, `tests/connectors/test_<name>.py` and
    `docs/connectors/<name>.md` under the project root `root`.

    Returns the files written; `.entry_point` is the line to add to pyproject.toml. Raises
    ScaffoldError (a ValueError) with a message saying what to change when the name is not
    acceptable, the connector exists already, or `root` is not the project root.
    """
    names = connector_names(name)
    root = Path(root)
    _check_root(root)
    targets = [(template, root / path.format(name=names.name)) for template, path in _FILES]
    _refuse_existing(names, root, [path for _, path in targets])
    rendered = [(path, render(template, names)) for template, path in targets]
    _write_all(rendered, package=root / "connectors" / names.name)
    return ScaffoldResult([path for path, _ in rendered], names.entry_point)


def next_steps(name: str) -> str:
    """What the engineer does after scaffolding, in order (printed by `python -m ...scaffold`)."""
    names = connector_names(name)
    return "\n".join(
        [
            'Add to pyproject.toml under [project.entry-points."dsr.connectors"]:',
            f"    {names.entry_point}",
            "then, following docs/connectors.md:",
            f"  1. build the sandbox: sandbox/{name}/seed.py and sandbox/{name}/app.py",
            f"  2. implement every TODO({name}) in connectors/{name}/",
            f"  3. enable tests/connectors/test_{name}.py (its TODOs) and run it",
            f"  4. fill in docs/connectors/{name}.md",
        ]
    )


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise ScaffoldError(f"{root} is not a directory: pass the repository root as --dir")
    if not (root / "connectors").is_dir():
        raise ScaffoldError(
            f"{root} does not look like the repository root (it has no connectors/ folder): "
            "run from the repository root, or pass it as --dir"
        )


def _refuse_existing(names: ConnectorNames, root: Path, targets: list[Path]) -> None:
    package = root / "connectors" / names.name
    if package.exists():
        raise ScaffoldError(
            f"connector {names.name!r} already exists (connectors/{names.name}/): "
            "choose another name, or edit the existing connector"
        )
    for path in targets:
        if path.exists():
            raise ScaffoldError(
                f"{path.relative_to(root)} already exists and would be overwritten: "
                "choose another name, or move that file away first"
            )
    registered = _registered_in_pyproject(root / "pyproject.toml") | {
        ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)
    }
    if names.name in registered:
        raise ScaffoldError(
            f"a connector named {names.name!r} is already registered in the "
            f"{ENTRY_POINT_GROUP!r} entry points: choose another name"
        )


def _registered_in_pyproject(pyproject: Path) -> set[str]:
    """Entry-point names in the project's pyproject.toml, installed or not yet."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return set()  # no readable pyproject: the installed entry points still count
    group = data.get("project", {}).get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    return set(group) if isinstance(group, dict) else set()


def _write_all(files: list[tuple[Path, str]], package: Path) -> None:
    written: list[Path] = []
    try:
        for path, text in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8", newline="\n") as handle:
                written.append(path)
                handle.write(text)
    except OSError as exc:
        for path in reversed(written):
            path.unlink(missing_ok=True)
        if package.is_dir() and not any(package.iterdir()):
            package.rmdir()
        raise ScaffoldError(
            f"could not write {path}: {exc.strerror or type(exc).__name__}; nothing was kept"
        ) from None
