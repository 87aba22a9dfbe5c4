"""`dsr up`'s generated settings: DSR_SUBJECT_HASH_KEY is written on first start and kept, so the
worker never falls back to deriving one (with a warning); a stack from before keeps the key its
worker had been deriving, so repeated-request fingerprints still match."""

from __future__ import annotations

import base64
from pathlib import Path

from devstack.up import _read_env_file, local_env, local_estate
from orchestrator.settings import Settings
from orchestrator.worker import subject_hash_key


def test_a_subject_hash_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = local_env(tmp_path, local_estate(tmp_path))
    key = first["DSR_SUBJECT_HASH_KEY"]
    assert len(base64.b64decode(key)) == 32
    assert _read_env_file(tmp_path / "local.env")["DSR_SUBJECT_HASH_KEY"] == key
    again = local_env(tmp_path, local_estate(tmp_path))
    assert again["DSR_SUBJECT_HASH_KEY"] == key
    other = tmp_path / "other"
    assert local_env(other, local_estate(other))["DSR_SUBJECT_HASH_KEY"] != key
    settings = Settings(
        payload_keys=first["DSR_PAYLOAD_KEYS"], subject_hash_key=key, signing_keys="k:s"
    )
    assert subject_hash_key(settings) == base64.b64decode(key)  # configured: nothing derived


def test_an_older_stack_keeps_the_key_its_worker_derived(tmp_path: Path) -> None:
    local_env(tmp_path, local_estate(tmp_path))
    env_file = tmp_path / "local.env"
    lines = env_file.read_text().splitlines()
    env_file.write_text(
        "\n".join(line for line in lines if not line.startswith("DSR_SUBJECT_HASH_KEY=")) + "\n"
    )
    payload_keys = _read_env_file(env_file)["DSR_PAYLOAD_KEYS"]
    derived = subject_hash_key(Settings(payload_keys=payload_keys, signing_keys="k:s"))
    values = local_env(tmp_path, local_estate(tmp_path))
    assert base64.b64decode(values["DSR_SUBJECT_HASH_KEY"]) == derived
