"""The connector scaffold: what `dsr connector new NAME` writes must be usable as written.

A scaffold is copied into every new connector, so its output is held to the repository's own bar:
it imports in a fresh interpreter, passes ruff (lint and format) and mypy --strict as generated,
its test module is collected and skipped until the engineer enables it, and its HTTP plumbing
(timeouts, retries, Retry-After, pagination, error translation, quiet logs) behaves as promised
against a real HTTP server in a subprocess.

The scaffold writes into a throwaway project root that mirrors the repository: a copy of
pyproject.toml (so ruff and mypy apply the project's own settings) and links to the packages the
generated code imports. Names are picked so the generated imports sort both before and after
`connectors.base` and `connectors.testing`, and so the longest allowed name is covered.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import tomllib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import connectors
from connectors.base import (
    AuthenticationError,
    ConfigurationError,
    Connector,
    ConnectorError,
    PermanentError,
    RateLimited,
    SystemUnavailable,
    UnsupportedOperation,
)
from connectors.scaffold import ScaffoldError, entry_point_line, scaffold_connector
from connectors.scaffold.__main__ import main as scaffold_main
from connectors.testing import ConnectorContract, dead_tcp_address, exception_text
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SHORT = "ab"  # the shortest name; sorts before connectors.base
LONG = "support_desk_ticketing_platform"  # the longest (31); between base and testing
PROBE = "webmail"  # sorts after connectors.testing; its plumbing is exercised below
NAMES = (SHORT, LONG, PROBE)
TOKEN = "scaffold-test-token"
SECRET_EMAIL = "anna.lind@example.se"


def _project(root: Path) -> Path:
    """A project root like the repository's, with the packages generated code imports."""
    (root / "connectors").mkdir(parents=True)
    (root / "connectors" / "__init__.py").write_text("")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for package in ("base", "testing", "billing"):
        (root / "connectors" / package).symlink_to(REPO / "connectors" / package)
    # Not devstack, sandbox or orchestrator: they sit above connectors, and neither a generated
    # connector nor its generated test may import them (the test's system comes from the
    # `running_system` fixture), so importing them here would fail.
    for package in ("schemas", "policy"):
        (root / package).symlink_to(REPO / package)
    return root


def _run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _project(tmp_path_factory.mktemp("scaffold") / "project")
    for name in NAMES:
        scaffold_connector(name, root)
    return root


def _generated(name: str) -> list[str]:
    return [f"connectors/{name}", f"tests/connectors/test_{name}.py"]


def _docs(name: str) -> str:
    return f"docs/connectors/{name}.md"  # ruff formats the Python blocks in Markdown too


# --- what is written --------------------------------------------------------------------


def test_writes_package_test_and_docs(tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    written = scaffold_connector("webshop", root)
    relative = [p.relative_to(root).as_posix() for p in written]
    assert relative == [
        "connectors/webshop/__init__.py",
        "connectors/webshop/_connector.py",
        "connectors/webshop/_settings.py",
        "connectors/webshop/_errors.py",
        "connectors/webshop/_client.py",
        "tests/connectors/test_webshop.py",
        "docs/connectors/webshop.md",
    ]
    assert all(p.is_file() for p in written)
    assert written.files == list(written)
    assert written.entry_point == 'webshop = "connectors.webshop:WebshopConnector"'
    for path in written:
        text = path.read_text()
        assert "${" not in text and "scaffold: sort" not in text, path
    connector_py = (root / "connectors/webshop/_connector.py").read_text()
    for operation in ("locate", "export", "erase", "rectify", "restrict", "lift_restriction"):
        body = connector_py.split(f"async def {operation}(", 1)[1].split("async def ", 1)[0]
        assert "TODO" in body, f"{operation} has no TODO"
    docs = (root / "docs/connectors/webshop.md").read_text()
    assert written.entry_point in docs
    assert "DSR_WEBSHOP_BASE_URL" in docs and "DSR_WEBSHOP_API_TOKEN" in docs


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("ab", 'ab = "connectors.ab:AbConnector"'),
        ("support_desk", 'support_desk = "connectors.support_desk:SupportDeskConnector"'),
        ("b2b_mail_v2", 'b2b_mail_v2 = "connectors.b2b_mail_v2:B2bMailV2Connector"'),
    ],
)
def test_entry_point_line(name: str, line: str) -> None:
    assert entry_point_line(name) == line
    parsed = tomllib.loads(f'[project.entry-points."dsr.connectors"]\n{line}\n')
    assert parsed["project"]["entry-points"]["dsr.connectors"] == {name: line.split('"')[1]}


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "invalid connector name"),
        ("a", "invalid connector name"),  # too short
        ("x" * 32, "invalid connector name"),  # too long
        ("1password", "invalid connector name"),
        ("Billing", "invalid connector name"),
        ("has-dash", "invalid connector name"),
        ("has space", "invalid connector name"),
        ("../escape", "invalid connector name"),
        ("_private", "invalid connector name"),
        ("class", "Python keyword"),
        ("base", "reserved"),
        ("testing", "reserved"),
        ("scaffold", "reserved"),
    ],
)
def test_bad_names_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    root = _project(tmp_path / "project")
    before = sorted(root.rglob("*"))
    with pytest.raises(ScaffoldError, match=reason) as error:
        scaffold_connector(name, root)
    assert isinstance(error.value, ValueError)  # what the CLI turns into exit code 2
    assert sorted(root.rglob("*")) == before, "a refused name must write nothing"


def test_existing_connectors_are_refused(tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    with pytest.raises(ScaffoldError, match=r"connector 'billing' already exists"):
        scaffold_connector("billing", root)
    scaffold_connector("crm", root)
    with pytest.raises(ScaffoldError, match=r"connector 'crm' already exists"):
        scaffold_connector("crm", root)
    (root / "tests/connectors/test_orphan.py").write_text("# somebody's work\n")
    with pytest.raises(ScaffoldError, match=r"test_orphan.py already exists"):
        scaffold_connector("orphan", root)
    assert not (root / "connectors/orphan").exists()
    assert (root / "tests/connectors/test_orphan.py").read_text() == "# somebody's work\n"


def test_the_repository_itself_refuses_billing() -> None:
    with pytest.raises(ScaffoldError, match="already exists"):
        scaffold_connector("billing", REPO)


def test_a_name_registered_in_pyproject_is_refused(tmp_path: Path) -> None:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[project.entry-points."dsr.connectors"]\nghost = "connectors.ghost:GhostConnector"\n'
    )
    with pytest.raises(ScaffoldError, match="'ghost' is already registered"):
        scaffold_connector("ghost", tmp_path)


def test_a_folder_that_is_not_the_project_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="no connectors/ folder"):
        scaffold_connector("crm", tmp_path)
    with pytest.raises(ScaffoldError, match="not a directory"):
        scaffold_connector("crm", tmp_path / "missing")


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    (root / "docs").write_text("a file where the docs folder should be\n")
    with pytest.raises(ScaffoldError, match="could not write"):
        scaffold_connector("crm", root)
    assert not (root / "connectors/crm").exists()
    assert not (root / "tests/connectors/test_crm.py").exists()


def test_module_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _project(tmp_path / "project")
    assert scaffold_main(["crm", "--dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert 'crm = "connectors.crm:CrmConnector"' in out
    assert str(root / "connectors/crm/_connector.py") in out
    assert scaffold_main(["Not-A-Name", "--dir", str(root)]) == 2
    assert "invalid connector name" in capsys.readouterr().err


# --- the generated files, as generated ----------------------------------------------------


def test_generated_files_pass_ruff(project: Path) -> None:
    paths = [p for name in NAMES for p in _generated(name)]
    lint = _run(BIN / "ruff", "check", "--no-cache", *paths, cwd=project)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    documents = [_docs(name) for name in NAMES]
    form = _run(BIN / "ruff", "format", "--check", "--no-cache", *paths, *documents, cwd=project)
    assert form.returncode == 0, form.stdout + form.stderr


def test_generated_files_pass_mypy_strict(project: Path) -> None:
    paths = [p for name in NAMES for p in _generated(name)]
    cache = project.parent / "mypy-cache"
    result = _run(BIN / "mypy", "--strict", "--cache-dir", cache, *paths, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_package_imports_in_a_fresh_interpreter(project: Path) -> None:
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.path.insert(0, {str(project)!r})
        import connectors
        assert connectors.__file__.startswith({str(project)!r}), connectors.__file__
        for name in {list(NAMES)!r}:
            package = importlib.import_module(f"connectors.{{name}}")
            for exported in package.__all__:
                getattr(package, exported)
            importlib.import_module(f"connectors.{{name}}._client")
            print(name)
        """
    )
    result = _run(sys.executable, "-c", script, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == list(NAMES)


def test_entry_point_loads_the_generated_class(project: Path) -> None:
    name, target = entry_point_line(LONG).split(" = ")
    module, attribute = target.strip('"').split(":")
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.path.insert(0, {str(project)!r})
        from connectors.base import Connector
        cls = getattr(importlib.import_module({module!r}), {attribute!r})
        assert issubclass(cls, Connector)
        print(cls.name)
        """
    )
    result = _run(sys.executable, "-c", script, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == name


def test_generated_test_module_is_collected_and_skipped(project: Path) -> None:
    result = _run(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"tests/connectors/test_{SHORT}.py",
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = re.search(r"(\d+) skipped", result.stdout)
    assert skipped and int(skipped.group(1)) >= 10, result.stdout
    assert "passed" not in result.stdout and "error" not in result.stdout.lower()


def test_generated_test_is_one_line_without_upward_imports(project: Path) -> None:
    """The generated test gets its system from the `running_system` fixture by name: it
    imports neither the dev stack nor the sandbox (both sit above connectors)."""
    tree = ast.parse((project / f"tests/connectors/test_{PROBE}.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"pytest", f"connectors.{PROBE}", "connectors.testing"}, imported
    assigned = [n for n in tree.body if isinstance(n, ast.Assign)]
    contract = [n for n in assigned if ast.unparse(n.targets[0]).startswith("Test")]
    assert len(contract) == 1 and "connector_contract(" in ast.unparse(contract[0].value)
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)]


# --- the generated connector and its HTTP plumbing, in this process -----------------------


@pytest.fixture(scope="module")
def probe(project: Path) -> Iterator[ModuleType]:
    """The generated `connectors.webmail` package, imported from the project root."""
    extra = str(project / "connectors")
    connectors.__path__.append(extra)
    try:
        yield importlib.import_module(f"connectors.{PROBE}")
    finally:
        connectors.__path__.remove(extra)
        for module in [m for m in sys.modules if m.startswith(f"connectors.{PROBE}")]:
            del sys.modules[module]


_SERVER = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN, TOTAL = sys.argv[1], 7
hits = {}
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=None, headers=(), raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if raw is None else "text/html")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/hits/"):
            return self.reply(200, {"hits": hits.get(url.path[5:], 0)})
        with lock:
            count = hits[url.path] = hits.get(url.path, 0) + 1
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(401, {"error": "who are you"})
        kind = url.path.split("/")[1]
        if kind == "ok":
            return self.reply(200, {"ok": True})
        if kind == "missing":
            return self.reply(404, {"error": "no such record"})
        if kind == "forbidden":
            return self.reply(403, {"error": "no"})
        if kind == "invalid":
            return self.reply(422, {"error": "bad input " + self.path})
        if kind == "redirect":
            return self.reply(302, {}, [("Location", "/ok")])
        if kind == "html":
            return self.reply(200, raw=b"<html>maintenance</html>")
        if kind == "down":
            return self.reply(503, {"error": "down"})
        if kind == "flaky":
            return self.reply(503, {}) if count == 1 else self.reply(200, {"ok": True})
        if kind == "limited":
            return self.reply(429, {}, [("Retry-After", query["after"])])
        if kind == "items":
            start, limit = int(query.get("cursor", 0)), int(query["limit"])
            end = min(start + limit, TOTAL)
            following = str(end) if end < TOTAL else None
            items = [{"n": n} for n in range(start, end)]
            return self.reply(200, {"items": items, "next_cursor": following})
        if kind == "stuck":
            return self.reply(200, {"items": [{"n": 0}], "next_cursor": "again"})
        return self.reply(404, {})

    do_DELETE = do_GET

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """A scripted HTTP server in a subprocess; it prints its port once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, TOKEN], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def client(probe: ModuleType, http_server: str) -> AsyncIterator[Any]:
    client = _client(probe, http_server)
    yield client
    await client.aclose()


def _client(
    probe: ModuleType,
    base_url: str,
    token: str = TOKEN,
    *,
    timeout: float = 5.0,
    max_retries: int = 2,
) -> Any:
    """The generated ApiClient, with quick retries and pages of three."""
    plumbing = importlib.import_module(f"{probe.__name__}._client")
    return plumbing.ApiClient(
        base_url,
        token,
        system=PROBE,
        timeout=timeout,
        connect_timeout=1.0,
        retry=plumbing.RetryPolicy(
            attempts=max_retries + 1, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0
        ),
        page_size=3,
    )


async def _hits(client: Any, path: str) -> int:
    body = await client.get_json(f"/hits{path}", operation="test")
    return int(body["hits"])


async def test_get_json_and_not_found(client: Any) -> None:
    assert await client.get_json("/ok", operation="locate") == {"ok": True}
    assert await client.get_json("/missing", operation="locate") is None
    assert await client.send("DELETE", "/missing", operation="erase", not_found_ok=True) is None
    # A 404 the call does not accept: the shared table reads it as a wrong base URL.
    with pytest.raises(ConfigurationError, match="HTTP 404"):
        await client.get_json("/missing", operation="export", not_found_ok=False)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/forbidden", AuthenticationError),
        ("/invalid", PermanentError),
        ("/redirect", ConfigurationError),
        ("/html", PermanentError),
    ],
)
async def test_permanent_failures_are_not_retried(
    client: Any, path: str, expected: type[ConnectorError]
) -> None:
    unique = f"{path}/{uuid.uuid4().hex}"
    with pytest.raises(expected) as error:
        await client.get_json(unique, operation="locate")
    assert type(error.value) is expected
    assert not error.value.retryable
    assert await _hits(client, unique) == 1


async def test_wrong_token_is_an_authentication_error(probe: ModuleType, http_server: str) -> None:
    client = _client(probe, http_server, token="not-the-token")
    try:
        with pytest.raises(AuthenticationError, match="HTTP 401") as error:
            await client.get_json("/ok", operation="locate")
        assert "not-the-token" not in exception_text(error.value)
    finally:
        await client.aclose()


async def test_outage_is_retried_then_raised(client: Any) -> None:
    path = f"/down/{uuid.uuid4().hex}"
    with pytest.raises(SystemUnavailable, match="HTTP 503") as error:
        await client.get_json(path, operation="erase")
    assert error.value.retryable
    assert await _hits(client, path) == 3  # the first attempt and max_retries=2


async def test_a_passing_outage_is_ridden_out(client: Any) -> None:
    path = f"/flaky/{uuid.uuid4().hex}"
    assert await client.get_json(path, operation="locate") == {"ok": True}
    assert await _hits(client, path) == 2


async def test_rate_limit_honours_retry_after(client: Any) -> None:
    path = f"/limited/{uuid.uuid4().hex}"
    with pytest.raises(RateLimited) as error:
        await client.get_json(path, operation="export", params={"after": "0"})
    assert error.value.retry_after == 0
    assert await _hits(client, path) == 3
    # A pause longer than retry_after_cap is Temporal's to wait out, at once.
    path = f"/limited/{uuid.uuid4().hex}"
    with pytest.raises(RateLimited) as error:
        await client.get_json(path, operation="export", params={"after": "3600"})
    assert error.value.retry_after == 3600
    assert await _hits(client, path) == 1


async def test_timeouts_and_refused_connections_are_outages(probe: ModuleType) -> None:
    with socket.socket() as silent:  # accepts connections (kernel backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = _client(probe, f"http://127.0.0.1:{port}", timeout=0.2, max_retries=0)
        try:
            with pytest.raises(SystemUnavailable, match="timed out"):
                await client.get_json("/ok", operation="locate")
        finally:
            await client.aclose()
    host, port = dead_tcp_address()
    client = _client(probe, f"http://{host}:{port}", max_retries=1)
    try:
        with pytest.raises(SystemUnavailable, match="unreachable"):
            await client.get_json("/ok", operation="locate")
    finally:
        await client.aclose()


async def test_pagination_reads_every_page(client: Any) -> None:
    items = [item async for item in client.pages("/items", operation="export")]
    assert [item["n"] for item in items] == list(range(7))  # 3 pages of page_size 3
    assert [item async for item in client.pages("/missing", operation="export")] == []
    with pytest.raises(PermanentError, match="did not advance"):
        async for _ in client.pages("/stuck", operation="export"):
            pass


async def test_no_personal_data_in_errors_or_logs(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        for path in ("/down/pd", "/invalid/pd", "/forbidden/pd", "/ok"):
            try:
                await client.get_json(path, operation="locate", params={"email": SECRET_EMAIL})
            except (SystemUnavailable, PermanentError) as exc:
                errors.append(exc)
    assert len(errors) == 3
    assert "(SystemUnavailable), attempt 1 of 3" in caplog.text, "retries are logged"
    texts = [caplog.text, *(exception_text(e) for e in errors)]
    # Counted, not shown: an assertion message must not become the leak it reports.
    assert sum("anna.lind" in text for text in texts) == 0, "the e-mail address leaked"
    assert sum(TOKEN in text for text in texts) == 0, "the token leaked"


def test_retry_policy_and_retry_after(probe: ModuleType) -> None:
    """The generated client uses the shared vocabulary: stamina's backoff hook decides."""
    plumbing = importlib.import_module(f"{probe.__name__}._client")
    errors = importlib.import_module(f"{probe.__name__}._errors")
    policy = plumbing.RetryPolicy(attempts=4, retry_after_cap=30.0)
    assert policy.backoff(SystemUnavailable("x")) is True  # exponential backoff
    assert policy.backoff(SystemUnavailable("x", retry_after=3.0)) == 3.0  # a 503's Retry-After
    assert policy.backoff(RateLimited("x", retry_after=12.0)) == 12.0
    assert policy.backoff(RateLimited("x", retry_after=0.0)) == 0.0  # at once, still a retry
    assert policy.backoff(RateLimited("x", retry_after=31.0)) is False  # Temporal's to wait
    assert policy.backoff(PermanentError("x")) is False
    assert policy.backoff(ValueError("a bug")) is False  # never disguised as an outage
    with pytest.raises(ConfigurationError):
        plumbing.RetryPolicy(attempts=0)
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert errors.parse_retry_after("120", now) == 120.0
    assert errors.parse_retry_after("Wed, 25 Nov 2026 12:01:30 GMT", now) == 90.0
    assert errors.parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now) == 0.0
    assert errors.parse_retry_after("soon", now) is None
    assert errors.parse_retry_after(None, now) is None


def test_translate_errors_types_httpx_failures_only(probe: ModuleType) -> None:
    errors = importlib.import_module(f"{probe.__name__}._errors")
    with pytest.raises(SystemUnavailable) as outage, errors.ERRORS.translating("export"):
        raise httpx.ConnectError(f"refused for {SECRET_EMAIL}")
    assert "anna.lind" not in exception_text(outage.value)
    assert str(outage.value).startswith(PROBE)
    # A sink's full disk is no outage of the system: it passes through as it is.
    with pytest.raises(OSError, match="No space left"), errors.ERRORS.translating("export"):
        raise OSError(28, "No space left on device")


def test_from_settings(probe: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = probe.WebmailConnector
    for key in [k for k in os.environ if k.startswith("DSR_WEBMAIL_")]:
        monkeypatch.delenv(key)
    with pytest.raises(ConfigurationError, match="DSR_WEBMAIL_BASE_URL is not set"):
        cls.from_settings()
    monkeypatch.setenv("DSR_WEBMAIL_BASE_URL", "https://webmail.internal.example/api")
    with pytest.raises(ConfigurationError, match="DSR_WEBMAIL_API_TOKEN is not set"):
        cls.from_settings()
    monkeypatch.setenv("DSR_WEBMAIL_API_TOKEN", TOKEN)
    monkeypatch.setenv("DSR_WEBMAIL_TIMEOUT", "-7")
    with pytest.raises(ConfigurationError, match="timeout") as error:
        cls.from_settings()
    assert "-7" not in str(error.value) and TOKEN not in str(error.value)
    monkeypatch.setenv("DSR_WEBMAIL_TIMEOUT", "3")
    connector = cls.from_settings()
    assert repr(connector) == "WebmailConnector(webmail.internal.example)"


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://files.example/api", "http:///nohost", "https://user:hunter2@"]
)
def test_unusable_base_urls_are_configuration_errors(probe: ModuleType, url: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        probe.WebmailConnector(url, TOKEN)
    assert "hunter2" not in str(error.value)
    with pytest.raises(ConfigurationError, match="token is empty"):
        probe.WebmailConnector("https://webmail.internal.example", "")


class _Declarations(ConnectorContract):
    registered = False  # a scaffold is not installed


async def test_generated_declarations_satisfy_the_contract(probe: ModuleType) -> None:
    connector: Connector = probe.WebmailConnector("http://127.0.0.1:9", TOKEN)
    try:
        await _Declarations().test_declarations_are_consistent(connector)
    finally:
        await connector.aclose()


async def test_unimplemented_operations_are_permanent_errors(probe: ModuleType) -> None:
    """A connector deployed half-written fails the system for a human, never retries forever."""
    connector: Connector = probe.WebmailConnector("http://127.0.0.1:9", TOKEN)
    subject = SubjectRef(identifiers=(Identifier(type=IdentifierType.EMAIL, value=SECRET_EMAIL),))
    try:
        with pytest.raises(UnsupportedOperation, match="not implemented") as error:
            await connector.locate(subject)
        assert not error.value.retryable
    finally:
        await connector.aclose()
