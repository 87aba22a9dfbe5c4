"""The image the chart runs by default: Docker cannot run here, so the Dockerfile is checked as
text — multi-stage, the locked environment (`uv sync --frozen --no-dev`), bytecode compiled, a
non-root user, every package copied — and that the chart's default image is this one."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.deploy.conftest import CHART, ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        result.append((word.upper(), " ".join(rest.split())))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def test_multi_stage_from_the_lock_file_with_bytecode() -> None:
    build, runtime = stages()
    runs = [args for word, args in build if word == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs and all("--frozen" in r and "--no-dev" in r for r in syncs)
    assert not [r for r in runs if "uv lock" in r or "pip install" in r]
    env = " ".join(args for word, args in build if word == "ENV")
    assert "UV_COMPILE_BYTECODE=1" in env
    assert any("uv.lock" in args for word, args in build if word in ("COPY", "RUN"))
    copied = {args.split()[0] for word, args in build if word == "COPY" and "--from" not in args}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(packages) <= copied
    # the runtime stage takes the environment, not the sources or uv
    assert [a for w, a in runtime if w == "COPY"] == [
        "--from=build --chown=root:root /app/.venv /app/.venv"
    ]


def test_runs_as_a_numeric_non_root_user_with_dsr_as_entrypoint() -> None:
    runtime = stages()[-1]
    users = [args for word, args in runtime if word == "USER"]
    assert users, "the runtime stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: runAsNonRoot can check it
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert ("ENTRYPOINT", '["dsr"]') in runtime
    env = " ".join(args for word, args in runtime if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # read-only root filesystem


def test_uv_and_python_match_the_project() -> None:
    makefile = (ROOT / "Makefile").read_text()
    uv_version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert uv_version is not None
    assert f"ghcr.io/astral-sh/uv:{uv_version[1]}" in DOCKERFILE.read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = re.search(r"python:(\d+\.\d+)", DOCKERFILE.read_text())
    minimum = re.search(r">=(\d+\.\d+)", project["requires-python"])
    assert base is not None and minimum is not None
    assert tuple(map(int, base[1].split("."))) >= tuple(map(int, minimum[1].split(".")))


def test_chart_default_image_is_this_image() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]
    labels = " ".join(args for word, args in stages()[-1] if word == "LABEL")
    assert f'org.opencontainers.image.title="{values["image"]["repository"]}"' in labels
    assert f'org.opencontainers.image.version="{project["version"]}"' in labels
    assert values["image"]["tag"] == ""  # the chart's appVersion


def test_dockerignore_keeps_state_and_secrets_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".state", ".tools", "*.env", "*.db", "tests"} <= ignored
    copied = {args.split()[0] for word, args in instructions() if word == "COPY"}
    assert not copied & ignored
