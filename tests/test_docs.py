"""The README stays a landing page and the docs site stays whole.

The README is read by CI (.ci/run) and by people setting the project up: its two set-up
commands must stay exactly as they are, and it must not grow back into the manual (that is
`docs/`, built with `mkdocs build --strict` by scripts/test). Every page of `docs/` must be
reachable from the site's navigation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

README_MAX_BYTES = 15 * 1024

# The two set-up commands, each an indented code line of the README, copy-pasteable as is.
SETUP_COMMANDS = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && "
    ".venv/bin/extractor run ../shared/seeds/*.txt --limit 5 -o out.jsonl",
    "./scripts/test",
)


def _nav_pages(nav: object) -> list[str]:
    """Every page path named in a MkDocs `nav` (nested lists of dicts and strings)."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def _config() -> dict[str, object]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


def test_readme_is_a_landing_page_not_the_manual():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, (
        f"README.md is {size} bytes, over {README_MAX_BYTES}: move reference, explanations "
        "and measurements to docs/ and link to them"
    )


@pytest.mark.parametrize("command", SETUP_COMMANDS)
def test_readme_keeps_the_setup_command(command: str):
    lines = README.read_text(encoding="utf-8").splitlines()
    assert f"    {command}" in lines, f"README.md lost its set-up command: {command}"


def test_every_docs_page_is_in_the_nav():
    nav = _nav_pages(_config()["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert pages, "docs/ has no pages"
    missing = [p for p in pages if p not in nav]
    assert not missing, f"docs pages missing from mkdocs.yml's nav: {missing}"
    dangling = [p for p in nav if not (DOCS / p).is_file()]
    assert not dangling, f"mkdocs.yml's nav names pages that do not exist: {dangling}"


def test_the_reference_is_generated_from_the_click_app():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert "::: mkdocs-click" in text
    assert ":module: extractor.cli" in text
    assert ":command: cli" in text
    assert "mkdocs-click" in _config()["markdown_extensions"]


def test_the_changelog_is_at_the_top_level_and_in_the_site():
    assert (ROOT / "CHANGELOG.md").is_file()
    assert '--8<-- "CHANGELOG.md"' in (DOCS / "changelog.md").read_text(encoding="utf-8")
    assert "(CHANGELOG.md)" in README.read_text(encoding="utf-8")


def test_readme_links_lead_to_files():
    # The site build checks links between pages; the README is outside it.
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:", t)]
    assert local, "README.md links to no page of the docs"
    broken = [t for t in local if t and not (ROOT / t).exists()]
    assert not broken, f"README.md links to files that do not exist: {broken}"


def test_no_hand_written_option_table():
    # The options are documented once, by the click app (docs/cli.md); a table of them in
    # prose drifts from the code.
    pages = [README, *DOCS.rglob("*.md")]
    tables = [p.name for p in pages if re.search(r"^\| *option *\|", p.read_text("utf-8"), re.M)]
    assert not tables, f"option tables written by hand in {tables}: link to docs/cli.md instead"
