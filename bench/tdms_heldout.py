"""A check of the result rules outside the dev gold: NLP-TDMS papers that are not in dev3.

NLP-TDMS (shared/external/nlp-tdms) labels whole papers with task#dataset#metric#score tuples.
For each paper outside dev3 whose score stands in its abstract, the rules run with the tuple's
dataset names as the benchmark names (those written in the abstract) and no model names; the
script counts the scores found as results, the benchmark right where the dataset's name is
written, and the metric's head right (the last word of its key: TDMS names metrics from a KB,
"Test perplexity", not as the text does). A sanity check of generalization, not a score.

    python bench/tdms_heldout.py [-v]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from extractor.core.facts import analyze
from extractor.core.labels import label_all
from extractor.core.metrics import head_key

SHARED = Path(__file__).resolve().parents[2] / "shared"
TDMS = SHARED / "external" / "nlp-tdms"


def main() -> None:
    verbose = "-v" in sys.argv
    dev3 = {
        json.loads(line)["id"].removeprefix("tdms-")
        for line in (SHARED / "gold" / "dev3.jsonl").read_text(encoding="utf-8").splitlines()
    }
    papers = {}
    for line in (TDMS / "abstracts_from_repo_tei.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        papers[r["paper_file"].removesuffix(".tei.xml").removesuffix(".pdf")] = r
    total = found = bench_ok = bench_n = metric_ok = n_papers = 0
    annotations = (TDMS / "annotations" / "resultsAnnotation.tsv").read_text(encoding="utf-8")
    for line in annotations.splitlines():
        pdf, _, tuples = line.partition("\t")
        pid = pdf.removesuffix(".pdf")
        if pid not in papers or pid in dev3:
            continue
        title, text = papers[pid]["title"] or "", papers[pid]["abstract"]
        scored = [t.split("#") for t in tuples.split("$")]
        scored = [
            t for t in scored if len(t) == 4 and re.fullmatch(r"[\d.]+", t[3]) and t[3] in text
        ]
        if not scored:
            continue
        n_papers += 1
        names = sorted({t[1] for t in scored if t[1] in text})
        facts = analyze(title, text)
        labels = label_all({"title": title, "abstract": text}, facts.numbers, names, [], None)
        for _task, dataset, metric, score in scored:
            total += 1
            hits = [
                (n, lab)
                for n, lab in zip(facts.numbers, labels, strict=True)
                if lab.result and abs(abs(n.value) - float(score)) < 1e-9
            ]
            if not hits:
                if verbose:
                    print(f"missed  {pid} {score} ({metric})")
                continue
            found += 1
            lab = hits[0][1]
            if dataset in text:
                bench_n += 1
                bench_ok += lab.benchmark == dataset
                if verbose and lab.benchmark != dataset:
                    print(f"bench   {pid} {score}: {dataset!r}, rules {lab.benchmark!r}")
            want = head_key(metric).split()[-1:]
            ok = lab.metric is not None and head_key(lab.metric).split()[-1:] == want
            metric_ok += ok
            if verbose and not ok:
                print(f"metric  {pid} {score}: {metric!r}, rules {lab.metric!r}")
    print(
        f"NLP-TDMS outside dev3: {n_papers} papers, {total} scores in their abstracts; "
        f"found as results {found}/{total}; benchmark right {bench_ok}/{bench_n} where its name "
        f"is written; metric head right {metric_ok}/{found}"
    )


if __name__ == "__main__":
    main()
