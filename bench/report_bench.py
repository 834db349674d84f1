"""Time `extractor report` and `extractor table` on many records, and the page in Chromium.

    .venv/bin/python bench/report_bench.py [-n 10000] [--out DIR] [--no-browser]

Records are synthetic but shaped like real output: ~1,100-character abstracts, a few models,
benchmarks, results and links each, all with spans; 300 benchmark names x 800 model names, so
the leaderboards are large too. Prints render time, file size, page-load time (until the page
says it is ready), and how long a search and a page flip take in the browser.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extractor.core.leaderboard import build_rows, pivot
from extractor.report import build_payload, render_html

FILLER = (
    "We study how multimodal large language models ground their answers in visual evidence, "
    "and find that current systems rely on language priors more than on the image itself. "
    "To address this, we introduce a training recipe that aligns region features with text. "
    "Extensive experiments across many settings show consistent improvements over strong "
    "baselines, with ablations confirming each component of the design. "
)


def synthetic_record(i: int, rng: random.Random) -> dict[str, Any]:
    model = f"Model{rng.randrange(800)}-{rng.choice(['7B', '13B', 'L', 'XL'])}"
    rival = f"Model{rng.randrange(800)}"
    benches = [f"Bench{rng.randrange(300)}" for _ in range(rng.randint(1, 3))]
    title = f"{model}: Grounded Multimodal Reasoning at Scale, part {i}"
    parts, spans, results = [FILLER], [], []
    for bench in benches:
        value = round(rng.uniform(20, 95), 1)
        evidence = f"{model} reaches {value}% accuracy on {bench}"
        start = sum(map(len, parts))
        parts.append(evidence + ", ")
        spans.append((start, start + len(evidence)))
        results.append(
            {
                "value": value,
                "unit": "%",
                "delta": False,
                "benchmark": bench,
                "metric": rng.choice(["accuracy", "acc", "Accuracy"]),
                "model": model,
                "evidence": evidence,
            }
        )
    parts.append(f"while {rival} trails behind. " + FILLER[:400])
    url = f"https://github.com/lab{i}/{model.lower()}"
    parts.append(f"Code is at {url}.")
    abstract = "".join(parts)

    def span(text: str, field: str = "abstract") -> dict[str, Any]:
        source = abstract if field == "abstract" else title
        at = source.index(text)
        return {"field": field, "start": at, "end": at + len(text), "match": "exact", "score": 1.0}

    return {
        "id": f"{i:06x}",
        "title": title,
        "abstract": abstract,
        "source": {"path": "papers.jsonl", "line": i + 1},
        "extraction": {
            "models": [
                {"name": model, "role": "proposed", "size": None},
                {"name": rival, "role": "compared", "size": None},
            ],
            "modalities": ["image", "text"],
            "tasks": ["visual question answering", "visual grounding"],
            "benchmarks": benches,
            "results": results,
            "code_links": [{"url": url, "kind": "code"}],
        },
        "spans": {
            "models": [span(model, "title"), span(rival)],
            "benchmarks": [span(b) for b in benches],
            "results": [
                {"field": "abstract", "start": s, "end": e, "match": "exact", "score": 1.0}
                for s, e in spans
            ],
            "code_links": [span(url)],
        },
        "meta": {
            "model": "bench",
            "prompt_version": "p",
            "schema_version": "s",
            "cached": True,
            "attempts": 0,
            "input_tokens": 0,
            "output_tokens": 0,
        },
        "warnings": [] if i % 7 else ["dropped benchmark 'Imaginary': not found in the text"],
    }


def timed(label: str, fn: Any) -> Any:
    start = time.perf_counter()
    value = fn()
    print(f"{label:<34} {time.perf_counter() - start:8.3f} s")
    return value


def browser_timings(page: Path) -> None:
    chromium, chromedriver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.exists() and chromedriver.exists()):
        print("browser: skipped, /usr/bin/chromium or /usr/bin/chromedriver missing")
        return
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    profile = tempfile.mkdtemp(prefix="report-bench-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
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
    driver = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    try:
        pager = "return document.getElementById('pager-top').textContent"
        start = time.perf_counter()
        driver.get(page.as_uri())
        WebDriverWait(driver, 120).until(
            lambda d: d.execute_script("return document.documentElement.dataset.ready === '1'")
        )
        wall = time.perf_counter() - start
        ready_ms = driver.execute_script("return document.documentElement.dataset.readyMs")
        print(f"{'page load (driver.get to ready)':<34} {wall:8.3f} s")
        print(f"{'page ready (performance.now)':<34} {int(ready_ms) / 1000:8.3f} s")
        elements = driver.execute_script("return document.getElementsByTagName('*').length")
        print(f"{'DOM elements after load':<34} {elements:8d}")

        def until_pager_changes(action: str) -> float:
            before = driver.execute_script(pager)
            begin = time.perf_counter()
            driver.execute_script(action)
            WebDriverWait(driver, 60, poll_frequency=0.005).until(
                lambda d: d.execute_script(pager) != before
            )
            return time.perf_counter() - begin

        search = until_pager_changes(
            "const q = document.getElementById('q'); q.value = 'bench17';"
            "q.dispatchEvent(new Event('input'));"
        )
        print(f"{'search (incl. 150 ms debounce)':<34} {search:8.3f} s")
        flip = until_pager_changes(
            "document.querySelectorAll('#pager-top button')[3].click()"
        )  # "Next"
        print(f"{'next page':<34} {flip:8.3f} s")
        begin = time.perf_counter()
        driver.execute_script("document.getElementById('tab-leaderboards').click()")
        bars = driver.execute_script("return document.querySelectorAll('.lb-bar').length")
        print(f"{'leaderboard tab':<34} {time.perf_counter() - begin:8.3f} s  ({bars} bars)")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="records (default 10000)")
    parser.add_argument("--out", type=Path, help="keep the JSONL and HTML here")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timings")
    args = parser.parse_args()

    rng = random.Random(5)
    records = [synthetic_record(i, rng) for i in range(args.n)]
    out = args.out or Path(tempfile.mkdtemp(prefix="report-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "records.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    print(f"{args.n} records, {jsonl.stat().st_size / 1e6:.1f} MB of JSONL")

    data = timed("table: rows + canonical names", lambda: build_rows(records))
    pv = timed("table: pivot", lambda: pivot(data.rows))
    print(f"{'':<34} {len(pv.models)} models x {len(pv.columns)} columns")
    payload = timed("report: payload", lambda: build_payload(records, source="records.jsonl"))
    page = timed("report: html", lambda: render_html(payload, title="bench"))
    html = out / "report.html"
    html.write_text(page, encoding="utf-8")
    print(f"{'report size':<34} {html.stat().st_size / 1e6:8.1f} MB  ({html})")
    if not args.no_browser:
        browser_timings(html)


if __name__ == "__main__":
    main()
