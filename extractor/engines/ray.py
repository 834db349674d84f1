"""`extractor run --engine ray`: the same per-record stages as a Ray Data pipeline.

    read (one task per input file, the CLI's readers)
      -> deduplicate by id (the first occurrence in input order wins, as in a plain run)
      -> skip ids already done (resume: records in the work directory's shards)
      -> map_batches(ExtractBatches): actors that each own one `Extractor` (one async client,
         the response cache of their node, the CLI's `Pipeline` and `stages`)
      -> write_json shards (WORK/shards/RUN/)
    then, on the driver, merge the shards into OUT and its errors file, in input order.

A record that fails is an error row like any other, never a failed task; a batch whose
processing raises is retried on the actor with a fresh client, and after `batch_retries`
its papers become `worker_error` rows (the rerun retries them). An actor process that dies
is restarted by Ray and its batch re-run. The merge keeps one row per id, so nothing is
written twice whatever Ray retried.

Resuming: the work directory (default `OUT.ray/`) keeps every run's shards and a manifest
of what they depend on (inputs, model, endpoint, prompt, schema, labels...). Running the
same command again sends only the ids that have no record yet; with other inputs or other
settings the old shards are set aside and the run starts over (answers still come from the
cache). On a cluster the work directory must be on storage every node sees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor.api import Extractor
from extractor.config import RunConfig
from extractor.core.paper import Paper
from extractor.pipeline import compose
from extractor.pipeline.prompt import load_prompt
from extractor.pipeline.read import open_input, read_csv, read_jsonl, read_papers_page
from extractor.pipeline.stages import error_record, one_line
from extractor.pipeline.write import JsonlWriter, dumps, remove_stale

log = logging.getLogger("extractor.ray")

MANIFEST = "manifest.json"
SHARDS = "shards"
_READERS = {"papers": read_papers_page, "jsonl": read_jsonl, "csv": read_csv}


@dataclass
class RaySummary:
    papers: int = 0  # distinct papers in the input (after --limit)
    resumed: int = 0  # already done in an earlier run: not sent again
    written: int = 0
    failed: int = 0
    cached: int = 0  # of this run's records, answered from a node's response cache
    duplicates: int = 0
    spent_input_tokens: int = 0
    spent_output_tokens: int = 0
    seconds: float = 0.0  # the whole run: Ray start, reading, extraction, merge
    extract_seconds: float = 0.0  # map_batches and the shard writes (actor start-up included)
    work_dir: str = ""


# -- reading ---------------------------------------------------------------------------------


def _paper_row(file: int, seq: int, paper: Paper) -> dict[str, Any]:
    return {
        "file": file,
        "seq": seq,
        "id": paper.id,
        "paper": json.dumps(
            [paper.id, paper.title, paper.abstract, paper.path, paper.line, paper.url,
             list(paper.warnings)]
        ),
    }  # fmt: skip


def _paper(row: dict[str, Any]) -> Paper:
    pid, title, abstract, path, line, url, warnings = json.loads(row["paper"])
    return Paper(pid, title, abstract, path, line, url, tuple(warnings))


def _read_file(task: dict[str, Any]) -> list[dict[str, Any]]:
    """One input file's papers, with their place in the input; a task of its own."""
    _, lines = open_input(task["open"], task["format"])

    def warn(message: str) -> None:
        print(f"extractor: warning: {message.replace(task['open'], task['path'])}", file=sys.stderr)

    rows = []
    for seq, paper in enumerate(_READERS[task["format"]](lines, task["path"], warn)):
        rows.append(_paper_row(task["file"], seq, paper))
    return rows


def _first_occurrence(group: dict[str, Any]) -> dict[str, Any]:
    """Of the rows of one id, the first in input order (what a plain run extracts)."""
    order = [(int(f), int(s)) for f, s in zip(group["file"], group["seq"], strict=True)]
    i = order.index(min(order))
    return {name: values[i : i + 1] for name, values in group.items()}


# -- the actors ------------------------------------------------------------------------------


class ExtractBatches:
    """A Ray Data actor: one `Extractor` (one async client, the node's response cache), the
    CLI's pipeline over each batch. Subclass it and pass `actor=` to wrap the batch work."""

    def __init__(self, config: RunConfig, run_id: str, batch_retries: int = 2):
        self.config = config
        self.run_id = run_id
        self.batch_retries = batch_retries
        self.extractor = Extractor(config)
        self._lock = threading.Lock()  # two batches at once per actor (see run_ray)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        rows = [dict(zip(batch, v, strict=True)) for v in zip(*batch.values(), strict=True)]
        papers = [_paper(r) for r in rows]
        for attempt in range(self.batch_retries + 1):
            extractor = self.extractor
            try:
                outcomes = self.extract(papers, extractor)
                break
            except Exception as e:  # not one record's failure: the batch's (a bug, a crash)
                log.warning("batch of %d failed (attempt %d): %s", len(papers), attempt + 1, e)
                message = one_line(e)
                with self._lock:  # its client may be what broke; the old one closes when unused
                    if self.extractor is extractor:
                        self.extractor = Extractor(self.config)
        else:
            outcomes = [error_record(p, "worker_error", message, 0) for p in papers]
        by_id = {o["id"]: o for o in outcomes}
        out: dict[str, list[Any]] = {
            "file": [],
            "seq": [],
            "id": [],
            "kind": [],
            "run": [],
            "json": [],
        }
        for row in rows:
            outcome = by_id.get(row["id"])
            if outcome is None:  # the pipeline stopped early (a fatal error): retried next run
                continue
            out["file"].append(int(row["file"]))
            out["seq"].append(int(row["seq"]))
            out["id"].append(row["id"])
            out["kind"].append("error" if "error" in outcome else "record")
            out["run"].append(self.run_id)
            out["json"].append(dumps(outcome))
        return out

    def extract(self, papers: list[Paper], extractor: Extractor) -> list[dict[str, Any]]:
        """Every paper's record or error record (the library API's `run`, all outcomes)."""
        return list(extractor.run(papers))


# -- the work directory: manifest, shards, resume, merge -------------------------------------


def _fingerprint(config: RunConfig, endpoint: str, formats: list[str]) -> dict[str, Any]:
    """What the shards depend on: another value means they describe another run."""
    m = config.model
    prompt = load_prompt(m.prompt_variant, m.results)
    inputs = []
    for path in config.inputs:
        st = os.stat(path)
        inputs.append([str(Path(path).resolve()), st.st_size, st.st_mtime_ns])
    settings = [
        m.model, endpoint, m.mode, m.temperature, m.max_tokens, prompt.version, m.results,
        config.labels, config.keep_ungrounded, config.max_abstract_chars, config.limit,
        config.cache_only, formats,
    ]  # fmt: skip
    digest = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16]
    return {"inputs": inputs, "settings": digest}


@dataclass
class _Row:
    file: int
    seq: int
    kind: str
    current: bool
    shard: str
    offset: int


def _shard_rows(shards: Path, run_id: str) -> Iterator[tuple[str, _Row]]:
    """(id, where its row is) for every readable row of every shard; a line cut short by a
    crash is skipped (that paper is simply not done)."""
    for path in sorted(p for p in shards.rglob("*") if p.is_file()):
        with open(path, "rb") as fh:
            offset = 0
            for line in fh:
                try:
                    row = json.loads(line)
                    entry = _Row(
                        int(row["file"]), int(row["seq"]), str(row["kind"]),
                        row["run"] == run_id, str(path), offset,
                    )  # fmt: skip
                    yield str(row["id"]), entry
                except (ValueError, KeyError, TypeError):
                    pass
                offset += len(line)


def _best(rows: Iterator[tuple[str, _Row]]) -> dict[str, _Row]:
    """One row per id: a record (this run's first) over an error; an error only if it is
    this run's (an earlier run's error was retried by this one)."""
    best: dict[str, _Row] = {}
    for id_, row in rows:
        if row.kind == "error" and not row.current:
            continue
        old = best.get(id_)
        if (
            old is None
            or (old.kind == "error" and row.kind == "record")
            or (old.kind == row.kind and row.current and not old.current)
        ):
            best[id_] = row
    return best


def _done_ids(shards: Path) -> set[str]:
    return {i for i, row in _shard_rows(shards, run_id="") if row.kind == "record"}


def _read_line(shard: str, offset: int, handles: dict[str, Any]) -> dict[str, Any]:
    fh = handles.get(shard)
    if fh is None:
        fh = handles[shard] = open(shard, "rb")  # noqa: SIM115 - closed by the caller
    fh.seek(offset)
    return json.loads(fh.readline())  # type: ignore[no-any-return]


# -- the run ---------------------------------------------------------------------------------


def run_ray(
    config: RunConfig,
    *,
    actors: int = 2,
    batch_size: int = 64,
    cpus_per_actor: float = 0.25,
    work_dir: str | Path | None = None,
    batch_retries: int = 2,
    actor: type[ExtractBatches] = ExtractBatches,
    address: str | None = None,
    notice: Callable[[str], None] | None = None,
) -> RaySummary:
    """Run `config` (inputs, output, errors, model...: as `extractor run`) on Ray Data.

    Uses the running Ray if there is one, else `ray.init(address)` (a local Ray when
    neither it nor `RAY_ADDRESS` names a cluster), shut down at the end. Writes OUT and its
    errors file as a plain run does (atomically, in input order); raises `FatalError` when
    the endpoint rejects the key or cannot be reached, and `InputError` for bad inputs.
    """
    import ray
    import ray.data

    from extractor.pipeline.read import InputError

    say = notice or (lambda _m: None)
    started = time.monotonic()
    config = dataclasses.replace(compose.effective(config), quiet=True)
    if "-" in config.inputs:
        raise InputError("--engine ray reads files, not stdin (-)")
    if not config.output or config.output == "-":
        raise InputError("--engine ray needs an output file (-o OUT.jsonl)")
    tasks: list[dict[str, Any]] = []
    for i, path in enumerate(config.inputs):
        fmt, lines = open_input(path, config.input_format)  # checks every input up front
        close = getattr(lines, "close", None)
        if close is not None:
            close()
        tasks.append({"file": i, "path": path, "open": str(Path(path).resolve()), "format": fmt})
    endpoint = compose.endpoint_identity(config) or ""
    work = Path(work_dir) if work_dir else Path(f"{config.output}.ray")
    shards = work / SHARDS
    manifest = _fingerprint(config, endpoint, [t["format"] for t in tasks])
    manifest_path = work / MANIFEST
    if manifest_path.exists():
        try:
            previous = json.loads(manifest_path.read_text())
        except ValueError:
            previous = None
        if previous != manifest and shards.exists():
            say(f"{work}: earlier shards are for other inputs or settings; starting over")
            shutil.rmtree(shards)
    shards.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest))
    done = frozenset(_done_ids(shards))

    own_ray = not ray.is_initialized()
    if own_ray:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=notice is not None,
            logging_level=logging.WARNING,
        )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = notice is not None
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    run_id = f"run-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"  # sorts in the order runs ran
    summary = RaySummary(work_dir=str(work))
    try:
        raw = ray.data.from_items(tasks).flat_map(_read_file).materialize()
        read = raw.count()
        papers = raw.groupby("id").map_groups(_first_occurrence, batch_format="numpy").materialize()
        distinct = papers.count()
        summary.duplicates = read - distinct
        if config.limit is not None and config.limit < distinct:
            papers = papers.sort(["file", "seq"]).limit(config.limit).materialize()
        summary.papers = total = min(
            distinct, config.limit if config.limit is not None else distinct
        )
        if total == 0:
            raise InputError("no papers found in the input")
        with warnings.catch_warnings():  # "use expr": a set lookup is what this filter is
            warnings.simplefilter("ignore", UserWarning)
            todo = papers.filter(lambda row: row["id"] not in done) if done else papers
        summary.resumed = total - todo.count()
        if summary.resumed:
            say(f"{summary.resumed} papers already done in {work}: not sent again")
        if summary.resumed < total:
            if not config.cache_only:
                _preflight(config)
            # Each actor paces its own requests (its Extractor's rate limiter): with its
            # share of --rpm/--tpm, all of them together keep to the run's.
            actor_config = compose.share_limits(
                dataclasses.replace(config, limit=None, inputs=[]), actors
            )
            results = todo.map_batches(
                actor,
                fn_constructor_kwargs={
                    "config": actor_config,
                    "run_id": run_id,
                    "batch_retries": batch_retries,
                },
                # Two batches at once per actor: the next one's requests start while the
                # last of this one are still out, and the actor's one semaphore keeps the
                # requests in flight at -c, both batches together.
                compute=ray.data.ActorPoolStrategy(
                    size=actors, max_concurrent_calls_per_actor=2, enable_true_multi_threading=True
                ),
                batch_size=batch_size,
                batch_format="numpy",
                num_cpus=cpus_per_actor,
            )
            extract_started = time.monotonic()
            results.write_json(str(shards / run_id))
            summary.extract_seconds = time.monotonic() - extract_started
    finally:
        if own_ray:
            ray.shutdown()
    _merge(config, shards, run_id, summary)
    summary.seconds = time.monotonic() - started
    return summary


def _preflight(config: RunConfig) -> None:
    """A bad key or a dead endpoint is one clear error on the driver, before any actor."""
    import asyncio

    asyncio.run(compose.preflight(config))


def _merge(config: RunConfig, shards: Path, run_id: str, summary: RaySummary) -> None:
    """OUT and its errors file from the shards, in input order, one row per id."""
    best = _best(_shard_rows(shards, run_id))
    order = sorted(best.items(), key=lambda item: (item[1].file, item[1].seq))
    out = JsonlWriter(config.output, atomic=True)
    errors = JsonlWriter(config.errors_path, atomic=True)
    handles: dict[str, Any] = {}
    try:
        for _id, row in order:
            outcome = json.loads(_read_line(row.shard, row.offset, handles)["json"])
            if row.kind == "record":
                out.write(outcome)
                summary.written += 1
                meta = outcome.get("meta", {})
                if row.current and meta.get("cached"):
                    summary.cached += 1
                elif row.current:
                    summary.spent_input_tokens += meta.get("input_tokens", 0)
                    summary.spent_output_tokens += meta.get("output_tokens", 0)
            else:
                errors.write(outcome)
                summary.failed += 1
    except BaseException:
        out.discard()
        errors.discard()
        raise
    finally:
        for fh in handles.values():
            fh.close()
        out.close()
        errors.close()
    out.commit(empty=True)
    if errors.count:
        errors.commit()
    else:
        errors.discard()
        with contextlib.suppress(OSError):
            remove_stale(config.errors_path)
