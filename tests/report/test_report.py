"""`extractor report`: the HTML page as text, its data, and the page in headless Chromium."""

from __future__ import annotations

import copy
import json
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor.cli import cli
from extractor.report import build_payload, render_report, script_json

GOLD = Path(__file__).resolve().parents[3] / "shared" / "gold" / "dev.jsonl"
if not GOLD.exists():
    GOLD = Path(__file__).resolve().parents[2] / "shared" / "gold" / "dev.jsonl"

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
HIGHLIGHTS = ("hl-model", "hl-benchmark", "hl-result", "hl-link")
DATA_ELEMENT = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)

# -- records --------------------------------------------------------------------------------


def find_span(title: str, abstract: str, needle: str) -> dict[str, Any] | None:
    for field, text in (("title", title), ("abstract", abstract)):
        at = text.find(needle)
        if at < 0:
            at = text.lower().find(needle.lower())
        if needle and at >= 0:
            return {"field": field, "start": at, "end": at + len(needle), "match": "exact"}
    return None


def with_spans(record: dict[str, Any]) -> dict[str, Any]:
    """A gold record as `run` writes it: grounded (core/ground.py when present, else a plain
    str.find), with source and meta."""
    record = copy.deepcopy(record)
    title, abstract, ex = record["title"], record["abstract"], record["extraction"]
    try:
        from extractor.core.ground import ground
        from extractor.core.schema import Extraction
    except ImportError:
        find = lambda text: find_span(title, abstract, text)  # noqa: E731
        record["spans"] = {
            "models": [find(m["name"]) for m in ex["models"]],
            "benchmarks": [find(b) for b in ex["benchmarks"]],
            "results": [find(r["evidence"]) for r in ex["results"]],
            "code_links": [find(c["url"]) for c in ex["code_links"]],
        }
        record.setdefault("warnings", [])
    else:
        grounded = ground(Extraction.model_validate(ex), title, abstract)
        record["extraction"] = grounded.extraction.model_dump(mode="json")
        record["spans"] = grounded.spans
        record["warnings"] = grounded.warnings
    record["source"] = {"path": "dev.jsonl", "line": 1}
    record["meta"] = {
        "model": "gold",
        "prompt_version": "p",
        "schema_version": "s",
        "cached": False,
        "attempts": 1,
        "input_tokens": 0,
        "output_tokens": 0,
    }
    return record


def hand_made(
    rid: str, title: str, abstract: str, extraction: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    find = lambda text: find_span(title, abstract, text)  # noqa: E731
    spans = {
        "models": [find(m["name"]) for m in extraction.get("models", [])],
        "benchmarks": [find(b) for b in extraction.get("benchmarks", [])],
        "results": [find(r["evidence"]) for r in extraction.get("results", [])],
        "code_links": [find(c["url"]) for c in extraction.get("code_links", [])],
    }
    return {
        "id": rid,
        "title": title,
        "abstract": abstract,
        "extraction": extraction,
        "spans": spans,
        "warnings": [],
        **extra,
    }


def level(
    value: float,
    bench: str,
    metric: str,
    model: str,
    evidence: str,
    unit: str | None = "%",
    *,
    delta: bool = False,
) -> dict[str, Any]:
    return {
        "value": value,
        "unit": unit,
        "delta": delta,
        "benchmark": bench,
        "metric": metric,
        "model": model,
        "evidence": evidence,
    }


# The gold results tie no level to a benchmark, so a few records give the leaderboard bars.
LEADERBOARD_RECORDS = [
    hand_made(
        "lb-1",
        "TinyVLM: Small Vision-Language Models",
        "TinyVLM reaches 78.2% accuracy on MS-COCO and 65.1% accuracy on VQAv2, while "
        "LLaVA-1.5 gets 80.1% accuracy on COCO. Code: https://github.com/x/tinyvlm.",
        {
            "models": [
                {"name": "TinyVLM", "role": "proposed", "size": None},
                {"name": "LLaVA-1.5", "role": "compared", "size": "7B"},
            ],
            "modalities": ["image", "text"],
            "tasks": ["visual question answering"],
            "benchmarks": ["MS-COCO", "VQAv2"],
            "results": [
                level(78.2, "MS-COCO", "accuracy", "TinyVLM", "78.2% accuracy on MS-COCO"),
                level(65.1, "VQAv2", "acc", "TinyVLM", "65.1% accuracy on VQAv2"),
                level(80.1, "COCO", "accuracy", "LLaVA-1.5", "LLaVA-1.5 gets 80.1% accuracy"),
            ],
            "code_links": [{"url": "https://github.com/x/tinyvlm", "kind": "code"}],
        },
        warnings=["dropped benchmark 'MMBench': not found in the text"],
    ),
    hand_made(
        "lb-2",
        "MiniGen",
        "MiniGen reaches an FID of 9.4 on COCO, against 12.0 for SD-1.5.",
        {
            "models": [
                {"name": "MiniGen", "role": "proposed"},
                {"name": "SD-1.5", "role": "compared"},
            ],
            "benchmarks": ["COCO"],
            "results": [
                level(9.4, "COCO", "FID", "MiniGen", "FID of 9.4 on COCO", unit=None),
                level(12.0, "COCO", "FID", "SD-1.5", "12.0 for SD-1.5", unit=None),
            ],
        },
    ),
]

EVIL_TITLE = "</script><script>window.__pwned = 'title'</script> Evil <b>bold</b> paper"
EVIL_ABSTRACT = (
    "<script>alert(1)</script> and <img src=x onerror=\"window.__pwned='img'\"> "
    "EvilNet gets 50% accuracy on COCO. <!-- comment --> \u2028 & &amp; done."
)
EVIL = hand_made(
    "evil",
    EVIL_TITLE,
    EVIL_ABSTRACT,
    {
        "models": [
            {"name": "<img src=x onerror=alert(2)>", "role": "proposed"},
            {"name": "EvilNet", "role": "compared"},
        ],
        "tasks": ["<svg onload=alert(5)>"],
        "benchmarks": ["COCO"],
        "results": [level(50, "COCO", "accuracy", "EvilNet", "EvilNet gets 50% accuracy on COCO")],
        "code_links": [{"url": "javascript:window.__pwned='link'", "kind": "code"}],
    },
    warnings=["<script>window.__pwned='warning'</script>"],
)


def gold_records() -> list[dict[str, Any]]:
    if not GOLD.exists():
        pytest.skip(f"{GOLD} not present")
    return [with_spans(json.loads(line)) for line in GOLD.read_text("utf-8").splitlines() if line]


def many_records(n: int) -> list[dict[str, Any]]:
    """n realistic records: the gold ones over and over, each with its own id."""
    base = [json.dumps(r) for r in gold_records() + LEADERBOARD_RECORDS]
    out = []
    for i in range(n):
        record = json.loads(base[i % len(base)])  # a fresh copy, much faster than deepcopy
        record["id"] = f"{record['id']}-{i}"
        for result in record["extraction"]["results"]:
            result["value"] = round(result["value"] + (i % 97) / 10, 2)
        out.append(record)
    return out


def data_of(page: str) -> Any:
    found = DATA_ELEMENT.search(page)
    assert found
    return json.loads(found.group(1))


# -- the page as text -----------------------------------------------------------------------


def test_script_json_cannot_close_its_element() -> None:
    obj = {"t": "</script><!-- <script> & \u2028\u2029 </SCRIPT>"}
    text = script_json(obj)
    assert not set("<>&") & set(text)
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == obj


def test_record_text_never_reaches_the_page_as_markup() -> None:
    page = render_report([EVIL])
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the page's own two
    blob = DATA_ELEMENT.search(page)
    assert blob and not set("<>&") & set(blob.group(1))
    markup = DATA_ELEMENT.sub("", page)
    for raw in ("alert", "__pwned", "<img", "<svg", "<b>", "<!--"):
        assert raw not in markup
    paper = data_of(page)["papers"][0]
    assert (paper["title"], paper["abstract"]) == (EVIL_TITLE, EVIL_ABSTRACT)
    assert paper["warnings"] == EVIL["warnings"]


def test_page_is_self_contained() -> None:
    page = render_report(LEADERBOARD_RECORDS, title='A <title> & "quotes"')
    markup = DATA_ELEMENT.sub("", page)
    assert "<title>A &lt;title&gt; &amp; &quot;quotes&quot;</title>" in markup
    # Nothing that could load anything: no external resources, no requests from the script.
    assert not re.search(r"<link|<img|<iframe|@import|url\(|\bsrc=|\bhref=", markup, re.I)
    assert not re.search(r"fetch\(|XMLHttpRequest|WebSocket|import\(|sendBeacon", markup)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', markup)
    assert csp and "default-src 'none'" in csp.group(1)
    assert "unsafe-inline" not in csp.group(1) and "connect-src" not in csp.group(1)


def test_payload_tolerates_partial_and_malformed_records() -> None:
    records: list[dict[str, Any]] = [
        {"id": "bare", "title": "Only a title"},
        {"id": "err", "title": "T", "error": {"type": "Timeout", "message": "slow", "attempts": 3}},
        {"title": "No spans", "abstract": "A", "extraction": {"models": ["OldStyle"]}},
        {
            "id": "odd",
            "title": "Title",
            "abstract": "GoodNet and BadNet on SetA.",
            "extraction": {
                "models": [
                    {"role": "proposed"},
                    {"name": "GoodNet", "role": "proposed"},
                    7,
                    {"name": "BadNet", "role": "compared"},
                ],
                "benchmarks": ["SetA", None],
                "results": [{"value": "n/a"}, {"value": "12.5", "evidence": "x"}],
                "code_links": [{"url": "https://a.b/c"}],
                "modalities": "image",
                "tasks": [1, "t"],
            },
            "spans": {
                "models": [
                    None,
                    {"field": "abstract", "start": 0, "end": 7, "match": "exact"},
                    None,
                    {"field": "abstract", "start": 12, "end": 999},
                ],
                "benchmarks": [{"field": "title", "start": 0, "end": 5}],
                "results": [None, {"field": "abstract", "start": True, "end": 3}],
                "code_links": "broken",
            },
            "meta": "not a dict",
            "warnings": ["kept", 3],
            "source": {"path": "in.jsonl", "line": 7},
        },
    ]
    papers = build_payload(records)["papers"]
    bare, err, old, odd = papers
    assert (bare["hasExtraction"], bare["models"], bare["spans"]["models"]) == (False, [], [])
    assert err["error"] == "Timeout: slow" and err["warnings"] == []
    assert old["models"] == [{"name": "OldStyle", "role": "", "size": None}]
    assert old["hasSpans"] is False and old["spans"]["models"] == [None]
    # Malformed items drop together with their spans; spans that do not fit become null.
    assert [m["name"] for m in odd["models"]] == ["GoodNet", "BadNet"]
    assert odd["spans"]["models"] == [[1, 0, 7, "exact"], None]
    assert odd["benchmarks"] == ["SetA"] and odd["spans"]["benchmarks"] == [[0, 0, 5, ""]]
    assert odd["results"][0]["value"] == 12.5 and odd["spans"]["results"] == [None]
    assert odd["links"] == [{"url": "https://a.b/c", "kind": "other"}]
    assert odd["spans"]["links"] == [None]
    assert (odd["modalities"], odd["tasks"], odd["warnings"]) == ([], ["t"], ["kept"])
    assert (odd["meta"], odd["source"]) == (None, "in.jsonl:7")
    render_report(records)  # and the page renders


def test_leaderboards_in_the_payload() -> None:
    boards = build_payload(LEADERBOARD_RECORDS)["boards"]
    assert [b["benchmark"] for b in boards] == ["COCO", "VQAv2"]
    coco = {(c["metric"], c["unit"]): c for c in boards[0]["boards"]}
    acc, fid = coco[("accuracy", "%")], coco[("FID", None)]
    assert acc["entries"] == [
        ["LLaVA-1.5", 80.1, "lb-1", LEADERBOARD_RECORDS[0]["title"], "LLaVA-1.5 gets 80.1% accuracy",
         "stated"],
        ["TinyVLM", 78.2, "lb-1", LEADERBOARD_RECORDS[0]["title"], "78.2% accuracy on MS-COCO",
         "stated"],
    ]  # fmt: skip
    assert fid["lower"] is True
    assert [e[:2] for e in fid["entries"]] == [["MiniGen", 9.4], ["SD-1.5", 12.0]]
    # The merged spellings each board stands for.
    assert (boards[0]["aka"], boards[1]["aka"]) == (["MS-COCO"], [])
    assert (acc["aka"], fid["aka"]) == (["acc"], [])  # "acc" is spelled in VQAv2's paper
    assert boards[1]["boards"][0]["aka"] == ["acc"]
    assert all(b["gains"] == [] for b in boards)


def test_leaderboard_gains_are_kept_apart_and_wrong_kinds_cleared() -> None:
    records = [
        hand_made(
            "g",
            "Gainer",
            "Gainer improves COCO accuracy by 2.5 points over LLaVA-HR.",
            {
                "models": [
                    {"name": "Gainer", "role": "proposed"},
                    {"name": "LLaVA-HR", "role": "compared"},
                ],
                "benchmarks": ["COCO"],
                "results": [
                    level(2.5, "COCO", "accuracy", "Gainer", "by 2.5 points", delta=True),
                    level(20.0, "LLaVA-HR", "inference time", "Gainer", "20 ms", unit="ms"),
                ],
            },
        ),
        *LEADERBOARD_RECORDS,
    ]
    payload = build_payload(records)
    coco = next(b for b in payload["boards"] if b["benchmark"] == "COCO")
    assert coco["gains"] == [["Gainer", 2.5, "%", "accuracy", "g", "Gainer", "by 2.5 points"]]
    assert all(e[0] != "Gainer" for c in coco["boards"] for e in c["entries"])  # not a level
    assert "LLaVA-HR" not in [b["benchmark"] for b in payload["boards"]]
    assert payload["kindFixes"] == [["g", "benchmark", "LLaVA-HR", "paper"]]
    assert payload["papers"][0]["bk"] == ["COCO"]  # nor in the benchmark filter
    assert ["LLaVA-HR", 1] not in payload["benchmarks"]
    assert build_payload(LEADERBOARD_RECORDS)["kindFixes"] == []


def test_report_command(tmp_path: Path) -> None:
    src = tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [*LEADERBOARD_RECORDS, EVIL]) + "\n\n{oops\n")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"{src}:5: invalid JSON" in result.stderr
    assert f"wrote {out}" in result.stderr
    page = out.read_text(encoding="utf-8")
    assert "<title>Extraction review: out.jsonl</title>" in page
    assert len(data_of(page)["papers"]) == 3
    to_stdout = CliRunner().invoke(cli, ["report", str(src), "--title", "T"])
    assert to_stdout.stdout.startswith("<!doctype html>")
    missing = CliRunner().invoke(cli, ["report", str(tmp_path / "none.jsonl"), "-o", str(out)])
    assert missing.exit_code == 2
    assert missing.stderr == f"Error: {tmp_path / 'none.jsonl'}: no such file\n"


def test_ten_thousand_records_make_a_reasonable_file(tmp_path: Path) -> None:
    records = many_records(10_000)
    src = tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    size, source_size = out.stat().st_size, src.stat().st_size
    # The records, compacted, plus a fixed ~40 KB of page: about the size of the input.
    assert size < 1.1 * source_size + 100_000, (size, source_size)
    assert len(data_of(out.read_text("utf-8"))["papers"]) == 10_000


# -- the page in a browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (/usr/bin/chromium, chromedriver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (extractor[test])")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="report-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver: Any, path: Path, timeout: float = 20) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(path.as_uri())
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.documentElement.dataset.ready === '1'")
    )
    driver.get_log("browser")  # start each page with an empty console


def run_js(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def set_control(driver: Any, element_id: str, value: str, event: str = "change") -> None:
    run_js(
        driver,
        f"const el = document.getElementById({json.dumps(element_id)});"
        f"el.value = {json.dumps(value)}; el.dispatchEvent(new Event({json.dumps(event)}));",
    )


def count(driver: Any, selector: str) -> int:
    return int(run_js(driver, f"return document.querySelectorAll({json.dumps(selector)}).length"))


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 600
    assert len(data) > 30_000  # a blank page compresses to a few KB


def console_errors(driver: Any) -> list[Any]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_review_page_in_chromium(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    records = gold_records() + LEADERBOARD_RECORDS
    page = tmp_path / "report.html"
    page.write_text(render_report(records, title="Gold review"), encoding="utf-8")
    open_page(browser, page)
    set_control(browser, "per-page", "100")
    assert count(browser, "#paper-list article.paper") == len(records)

    # Every kind of grounded item is highlighted, and a highlight covers the item's text.
    for cls in HIGHLIGHTS:
        assert count(browser, f"#paper-list mark.{cls}") > 0, cls
    names = {m["name"].lower() for r in records for m in r["extraction"]["models"]}
    marked = run_js(
        browser,
        "return [...document.querySelectorAll('#paper-list mark.hl-model:not(.hl-result)')]"
        ".map(m => m.textContent.toLowerCase())",
    )
    assert marked and set(marked) <= names
    links = run_js(
        browser, "return [...document.querySelectorAll('#paper-list a')].map(a => a.rel)"
    )
    assert links and set(links) == {"noopener noreferrer"}

    # Hovering an extracted item outlines its place in the text.
    run_js(
        browser,
        "document.querySelector('#paper-list [data-ref=\"models:0\"]')"
        ".dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))",
    )
    assert count(browser, "#paper-list mark.is-active") >= 1

    shot = tmp_path / "papers.png"
    browser.save_screenshot(str(shot))
    assert_png(shot)

    # Search and filters narrow the list.
    set_control(browser, "q", "CWCL", "input")
    WebDriverWait(browser, 5).until(lambda d: count(d, "#paper-list article.paper") == 1)
    set_control(browser, "q", "", "input")
    set_control(browser, "has", "links")
    with_links = sum(1 for r in records if r["extraction"].get("code_links"))
    WebDriverWait(browser, 5).until(lambda d: count(d, "#paper-list article.paper") == with_links)
    set_control(browser, "has", "")
    set_control(browser, "benchmark", "COCO")
    assert count(browser, "#paper-list article.paper") == 2

    # The leaderboard: one bar per model and board, best first, with a real width.
    run_js(browser, "document.getElementById('tab-leaderboards').click()")
    gains_only = {  # benchmarks the gold ties only gains to: a card with no bars
        r["benchmark"].casefold()
        for rec in gold_records()
        for r in rec["extraction"]["results"]
        if r["benchmark"] and r["delta"]
    } - {"coco", "ms-coco", "vqav2"}
    assert count(browser, "#board-list .lb-card") == min(8, 2 + len(gains_only))
    assert count(browser, "#board-list .lb-bar") == 5
    widths = run_js(
        browser,
        "return [...document.querySelectorAll('.lb-bar')]"
        ".map(b => b.getBoundingClientRect().width)",
    )
    assert all(w > 0 for w in widths)
    shot = tmp_path / "leaderboard.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Each value shows its evidence and links to its paper's card; merged spellings are named.
    coco = "document.querySelector('#board-list .lb-card')"
    assert run_js(browser, f"return {coco}.querySelector('h3').textContent") == (
        "COCOalso written MS-COCO"
    )
    best = f"{coco}.querySelector('.lb-row')"
    assert run_js(browser, f"return {best}.querySelector('.lb-evidence').textContent") == (
        "LLaVA-1.5 gets 80.1% accuracy"
    )
    assert run_js(browser, f"return {best}.querySelector('a.lb-value').getAttribute('href')") == (
        "#paper=lb-1"
    )
    run_js(browser, f"{best}.querySelector('a.lb-value').click()")
    WebDriverWait(browser, 5).until(lambda d: count(d, "#paper-list article.paper") == 1)
    assert run_js(browser, "return document.getElementById('view-papers').hidden") is False
    title = "return document.querySelector('#paper-list .paper-title').textContent"
    assert run_js(browser, title) == LEADERBOARD_RECORDS[0]["title"]

    # Nothing was fetched and nothing failed (a CSP violation would show as an error).
    assert run_js(browser, "return performance.getEntriesByType('resource').length") == 0
    assert console_errors(browser) == []


def test_hostile_text_stays_text_in_chromium(browser: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    page = tmp_path / "evil.html"
    evil_board = hand_made(
        '"><img src=x>',
        "<b>board</b>",
        "x",
        {
            "results": [
                level(1, "<svg onload=alert(4)>", "acc", "<img src=x onerror=alert(3)>",
                      "<img src=x onerror=\"window.__pwned='evidence'\">"),
                level(2, "<svg onload=alert(4)>", "acc", "G", "<script>x</script>", delta=True),
            ]
        },
    )  # fmt: skip
    page.write_text(render_report([EVIL, evil_board, *LEADERBOARD_RECORDS]), encoding="utf-8")
    open_page(browser, page)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018
    assert run_js(browser, "return window.__pwned === undefined")
    assert (
        count(browser, "#paper-list img, #paper-list script, #paper-list svg, #paper-list b") == 0
    )
    card = "document.querySelector('#paper-list article.paper')"
    assert run_js(browser, f"return {card}.querySelector('.paper-title').textContent") == EVIL_TITLE
    assert run_js(browser, f"return {card}.querySelector('.abstract').textContent") == EVIL_ABSTRACT
    text = run_js(browser, f"return {card}.textContent")
    assert "<img src=x onerror=alert(2)>" in text and "<svg onload=alert(5)>" in text
    # A javascript: URL is shown, never made a link.
    assert count(browser, "#paper-list a[href^='javascript']") == 0
    assert "javascript:window.__pwned='link'" in text
    run_js(browser, "document.getElementById('tab-leaderboards').click()")
    assert run_js(browser, "return window.__pwned === undefined")
    board = "document.getElementById('board-list')"
    assert count(browser, "#board-list img, #board-list script, #board-list svg") == 0
    board_text = run_js(browser, f"return {board}.textContent")
    assert EVIL_TITLE in board_text and "<img src=x onerror=alert(3)>" in board_text
    hrefs = run_js(
        browser,
        "return [...document.querySelectorAll('#board-list a')].map(a => a.getAttribute('href'))",
    )
    assert hrefs and all(h.startswith("#paper=") for h in hrefs)
    assert "#paper=%22%3E%3Cimg%20src%3Dx%3E" in hrefs  # a hostile id, URI-encoded
    assert run_js(browser, "return window.__pwned === undefined")


def test_ten_thousand_records_load_in_chromium(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    page = tmp_path / "big.html"
    records = many_records(10_000)
    page.write_text(render_report(records), encoding="utf-8")
    open_page(browser, page, timeout=60)  # generous: it takes about a second (bench/)
    assert count(browser, "#paper-list article.paper") == 25  # one page, not 10,000 cards
    assert count(browser, "*") < 10_000
    set_control(browser, "scope", "title")
    set_control(browser, "q", "tinyvlm", "input")
    expected = f"of {sum('TinyVLM' in r['title'] for r in records)} papers"
    pager = "return document.getElementById('pager-top').textContent"
    WebDriverWait(browser, 20).until(lambda d: expected in run_js(d, pager))
    assert console_errors(browser) == []
