"""The prompts are data at the top level (`prompts/`) and ship inside the wheel as
`extractor/prompts/`: the loader finds them in both layouts with the same versions, and the
wheel's package list in pyproject.toml covers every package folder and every prompt file."""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor.core.numbers import MINER_VERSION
from extractor.core.schema import RESULT_MODES
from extractor.pipeline import prompt as prompt_module
from extractor.pipeline.prompt import VARIANTS, load_prompt, prompt_files

ROOT = Path(__file__).resolve().parents[1]

# Every variant's version, as computed before the prompts moved out of extractor/prompts/. It
# is in every cache key and every record: a changed one makes every cached answer a miss. The
# anchored versions also hash the number miner's version (MINER_VERSION), so a new miner
# changes them (and this table) on purpose.
VERSIONS = {
    ("full", "anchored"): "full-a-7e5b598b9485",
    ("full", "rule"): "full-r-aef247adec56",
    ("full", "free"): "full-f-832b56497c66",
    ("compact", "anchored"): "compact-a-b954cde157f8",
    ("compact", "rule"): "compact-r-d45062e019bc",
    ("compact", "free"): "compact-f-d4e1faf5a8bb",
}


@pytest.fixture
def fresh_prompts() -> Iterator[None]:
    """load_prompt and prompt_files cache their answer; each test here finds the files anew."""
    prompt_files.cache_clear()
    load_prompt.cache_clear()
    yield
    prompt_files.cache_clear()
    load_prompt.cache_clear()


def test_every_variant_keeps_its_version(fresh_prompts: None) -> None:
    assert MINER_VERSION == "4", "a new miner changes the anchored versions: update VERSIONS"
    assert {(v, r) for v in VARIANTS for r in RESULT_MODES} == set(VERSIONS)
    for (variant, results), version in VERSIONS.items():
        assert load_prompt(variant, results).version == version


def test_a_source_checkout_reads_the_top_level_folder(fresh_prompts: None) -> None:
    assert Path(str(prompt_files())) == ROOT / "prompts"
    assert not (ROOT / "extractor" / "prompts").exists()  # one copy, at the top level


def _wheel_layout(tmp_path: Path) -> Path:
    """The package as a wheel installs it: the prompt files under extractor/prompts/."""
    installed = tmp_path / "site-packages" / "extractor" / "prompts"
    shutil.copytree(ROOT / "prompts", installed)
    return installed.parent


def test_an_installed_wheel_reads_the_prompts_inside_the_package(
    fresh_prompts: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _wheel_layout(tmp_path)
    real_files = prompt_module.resources.files

    def files(anchor: Any) -> Any:
        return package if anchor == "extractor" else real_files(anchor)

    monkeypatch.setattr(prompt_module.resources, "files", files)
    assert Path(str(prompt_files())) == package / "prompts"
    for (variant, results), version in VERSIONS.items():
        assert load_prompt(variant, results).version == version
    # and what is read is that copy: a changed file there is a changed prompt
    (package / "prompts" / "user.md").write_text("{title}\n{abstract}\n", encoding="utf-8")
    load_prompt.cache_clear()
    assert load_prompt("full", "free").version != VERSIONS["full", "free"]


def _setuptools() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return dict(tomllib.load(fh)["tool"]["setuptools"])


def test_the_wheel_lists_every_package_folder() -> None:
    # setuptools maps prompts/ into the package only for packages named in a list, so a new
    # package folder must be added to it or the wheel ships without it.
    config = _setuptools()
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "extractor").rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk | {"extractor.prompts"}
    assert config["package-dir"] == {"extractor.prompts": "prompts"}


def test_the_wheel_ships_every_prompt_file() -> None:
    patterns = _setuptools()["package-data"]["extractor.prompts"]
    files = sorted(p.name for p in (ROOT / "prompts").iterdir() if p.is_file())
    assert "user.md" in files and "examples.jsonl" in files
    for name in files:
        assert any(fnmatch.fnmatch(name, pat) for pat in patterns), f"{name} is not in the wheel"


def test_missing_prompt_files_are_one_clear_error(
    fresh_prompts: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An install that lost its prompts must say so, not read some other folder's files.
    (tmp_path / "extractor" / "pipeline").mkdir(parents=True)
    monkeypatch.setattr(
        prompt_module, "__file__", str(tmp_path / "extractor" / "pipeline" / "prompt.py")
    )
    monkeypatch.setattr(prompt_module.resources, "files", lambda _anchor: tmp_path / "extractor")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "user.md").write_text("{title}", encoding="utf-8")  # no pyproject
    with pytest.raises(FileNotFoundError, match="prompt files are missing"):
        load_prompt("full", "free")
