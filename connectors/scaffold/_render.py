"""Rendering the templates: `string.Template` placeholders, then name-dependent imports sorted.

A template is the generated file as an engineer would write it, with `${name}` (example_crm),
`${Name}` (ExampleCrm), `${NAME}` (EXAMPLE_CRM) and `${entry_point}` where the connector's name
goes, and `$$` for a literal dollar sign.

Where imports of the new package sit next to other `connectors.*` imports, their order depends on
the name (`connectors.alpha` sorts before `connectors.base`, `connectors.zeta` after it). The
template marks that block and the renderer sorts it by module, as ruff's isort does; every
statement in it is parenthesised with a trailing comma, so ruff keeps it as written whatever the
length of the name. The generated files are then lint- and format-clean as generated.
"""

from __future__ import annotations

import re
from importlib import resources
from string import Template

from connectors.scaffold._names import ConnectorNames

__all__ = ["render"]

_BLOCK = re.compile(r"^# scaffold: sort imports\n(?P<body>.*?)^# scaffold: end\n", re.M | re.S)
_STATEMENT = re.compile(r"from (?P<module>[\w.]+) import \(\n(?:    \w+,\n)+\)\n")


def _sorted_imports(match: re.Match[str]) -> str:
    body = match.group("body")
    statements = [(m.group("module"), m.group(0)) for m in _STATEMENT.finditer(body)]
    if "".join(text for _, text in statements) != body:
        # A template bug, not a user error: the block must hold only parenthesised imports.
        raise RuntimeError("scaffold template: a sorted import block holds something else")
    # Code-point order is ruff's order here: all names are lower case, and the framework's
    # modules in a block (connectors.base, connectors.testing) hold no digits, so ruff's natural
    # ordering of digit runs never comes into play.
    return "".join(text for _, text in sorted(statements))


def render(template: str, names: ConnectorNames) -> str:
    """The text of one generated file from `templates/<template>`."""
    source = resources.files("connectors.scaffold").joinpath("templates", template)
    text = Template(source.read_text(encoding="utf-8")).substitute(
        name=names.name,
        Name=names.class_prefix,
        NAME=names.name.upper(),
        entry_point=names.entry_point,
    )
    return _BLOCK.sub(_sorted_imports, text)
