"""Batch mode through the CLI, with the Files and Batches endpoints mocked by respx.

`FakeBatchAPI` keeps uploaded files and batches; each batch ends as its test says
(`outcomes`: completed, completed with some lines rejected, expired half done), answering
each request line as a live request would be answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.cli.test_run import (
    EMPTY,
    answer,
    extraction_for,
    invoke,
    papers,
    read_jsonl,
    write_jsonl,
)
from tests.support.shared import BASE_URL, SEEDS, completion

Outcome = Callable[[list[dict[str, Any]]], tuple[str, list[dict[str, Any]]]]


def paper_of(body: dict[str, Any]) -> str:
    return str([m["content"] for m in body["messages"] if "<paper>" in str(m["content"])][-1])


def good(body: dict[str, Any]) -> dict[str, Any]:
    return completion(extraction_for(paper_of(body)))


def result_line(request: dict[str, Any], status: int = 200, body: Any = None) -> dict[str, Any]:
    if status == 200:
        response = {"status_code": 200, "request_id": "r", "body": body or good(request["body"])}
    else:
        response = {"status_code": status, "request_id": "r", "body": {"error": {"message": "bad"}}}
    return {
        "id": "batch_req",
        "custom_id": request["custom_id"],
        "response": response,
        "error": None,
    }


def all_completed(requests: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    return "completed", [result_line(r) for r in requests]


class FakeBatchAPI:
    def __init__(
        self,
        mock: respx.MockRouter,
        outcomes: list[Outcome] | None = None,
        default: Outcome = all_completed,
    ):
        self.default = default
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.outcomes = list(outcomes or [])
        self.submitted: list[list[dict[str, Any]]] = []  # request lines, per batch created
        self.retrieve_hook: Callable[[str], None] | None = None
        self.upload = mock.post("/files").mock(side_effect=self._upload)
        self.create = mock.post("/batches").mock(side_effect=self._create)
        self.listing = mock.get("/batches").mock(side_effect=self._list)
        self.retrieve = mock.get(url__regex=r"/batches/[^/]+$").mock(side_effect=self._retrieve)
        self.content = mock.get(url__regex=r"/files/[^/]+/content$").mock(side_effect=self._content)

    def _upload(self, request: httpx.Request) -> httpx.Response:
        assert b'name="purpose"\r\n\r\nbatch' in request.content
        lines = [
            line.rstrip(b"\r")
            for line in request.content.split(b"\n")
            if line.startswith(b'{"custom_id"')
        ]
        file_id = f"file-in-{len(self.files) + 1}"
        self.files[file_id] = b"\n".join(lines) + b"\n"
        return httpx.Response(200, json=_file(file_id))

    def _create(self, request: httpx.Request) -> httpx.Response:
        params = json.loads(request.content)
        assert params["endpoint"] == "/v1/chat/completions"
        assert params["completion_window"] == "24h"
        batch_id = f"batch-{len(self.batches) + 1}"
        requests = [json.loads(x) for x in self.files[params["input_file_id"]].splitlines()]
        self.submitted.append(requests)
        outcome = self.outcomes.pop(0) if self.outcomes else self.default
        status, results = outcome(requests)
        output_id = f"file-out-{batch_id}"
        self.files[output_id] = b"".join(json.dumps(r).encode() + b"\n" for r in results)
        answered = sum(r["response"]["status_code"] == 200 for r in results)
        self.batches[batch_id] = {
            **_batch(batch_id, params["input_file_id"], "validating"),
            "_final": status,
            "_output": output_id,
            "request_counts": {
                "total": len(requests),
                "completed": answered,
                "failed": len(results) - answered,
            },
        }
        return httpx.Response(200, json=self._public(batch_id))

    def _public(self, batch_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[batch_id].items() if not k.startswith("_")}

    def _retrieve(self, request: httpx.Request) -> httpx.Response:
        batch_id = request.url.path.rsplit("/", 1)[1]
        if self.retrieve_hook is not None:
            self.retrieve_hook(batch_id)
        batch = self.batches[batch_id]
        if batch["status"] == "validating":
            batch["status"] = "in_progress"  # one look in progress, then it ends
        else:
            batch["status"] = batch["_final"]
            batch["output_file_id"] = batch["_output"]
        return httpx.Response(200, json=self._public(batch_id))

    def _list(self, request: httpx.Request) -> httpx.Response:
        data = [self._public(b) for b in self.batches]
        return httpx.Response(200, json={"object": "list", "data": data, "has_more": False})

    def _content(self, request: httpx.Request) -> httpx.Response:
        file_id = request.url.path.split("/")[-2]
        return httpx.Response(200, content=self.files[file_id])


def _file(file_id: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": 1,
        "created_at": 1700000000,
        "filename": "requests.jsonl",
        "purpose": "batch",
        "status": "processed",
    }


def _batch(batch_id: str, input_file_id: str, status: str) -> dict[str, Any]:
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": input_file_id,
        "completion_window": "24h",
        "status": status,
        "created_at": 1700000000,
        "output_file_id": None,
        "error_file_id": None,
    }


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("extractor.pipeline.batch.MAX_REQUESTS", 3)


def run_batch(src: Path, out: Path, *args: str, key: str = "sk-test") -> Any:
    return invoke(
        str(src), "-o", str(out), "--batch", "--poll-interval", "0", *args,
        env={"OPENAI_API_KEY": key},
    )  # fmt: skip


def without_cost(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "meta": {k: v for k, v in r["meta"].items() if k != "cost_usd"}} for r in records]


def seed_answer(body_or_request: Any) -> dict[str, Any]:
    """An answer for any seed paper: its title's first word as a proposed model."""
    if isinstance(body_or_request, httpx.Request):
        body = json.loads(body_or_request.content)
    else:
        body = body_or_request
    title = paper_of(body).split("Title: ", 1)[1].split("\n", 1)[0]
    name = title.split()[0].strip(":,")
    return completion({**EMPTY, "models": [{"name": name, "role": "proposed", "size": None}]})


def test_a_batch_run_of_the_seeds_writes_what_a_live_run_of_the_same_answers_writes(
    api: Any, tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = api.post("/chat/completions").mock(
        side_effect=lambda r: httpx.Response(200, json=seed_answer(r))
    )
    live_out = tmp_path / "live.jsonl"
    monkeypatch.setenv("EXTRACTOR_CACHE_DIR", str(tmp_path / "live-cache"))
    result = invoke(*map(str, SEEDS[:2]), "-o", str(live_out), "-m", "gpt-4o-mini",
                    env={"OPENAI_API_KEY": "sk-test"})  # fmt: skip
    assert result.exit_code == 0, result.output
    live_bodies = {paper_of(json.loads(c.request.content)): json.loads(c.request.content)
                   for c in chat.calls}  # fmt: skip
    sent_live = chat.call_count

    fake = FakeBatchAPI(
        api,
        default=lambda reqs: ("completed", [result_line(r, body=seed_answer(r["body"])) for r in reqs]),
    )  # fmt: skip
    monkeypatch.setenv("EXTRACTOR_CACHE_DIR", str(tmp_path / "batch-cache"))
    out = tmp_path / "batch.jsonl"
    result = invoke(*map(str, SEEDS[:2]), "-o", str(out), "-m", "gpt-4o-mini", "--batch",
                    "--poll-interval", "0", env={"OPENAI_API_KEY": "sk-test"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert chat.call_count == sent_live  # no live request in batch mode
    live, batch = read_jsonl(live_out), read_jsonl(out)
    assert len(batch) == len(live) > 3
    assert fake.create.call_count == -(-len(live) // 3)  # split at 3 requests a batch
    assert without_cost(batch) == without_cost(live)
    for b, li in zip(batch, live, strict=True):
        assert b["meta"]["cost_usd"] == pytest.approx(li["meta"]["cost_usd"] / 2)
    # Each request line's body is exactly what the live run posted for that paper.
    lines = [r for reqs in fake.submitted for r in reqs]
    assert len({r["custom_id"] for r in lines}) == len(lines) == len(live)
    for line in lines:
        assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
        assert line["body"] == live_bodies[paper_of(line["body"])]
        assert "response_format" in line["body"]
    assert "cost $" in result.output


def rejecting(n: int) -> Outcome:
    """Completed, with the first `n` lines rejected in their response body (HTTP 400)."""

    def outcome(reqs: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        return "completed", [result_line(r, 400 if i < n else 200) for i, r in enumerate(reqs)]

    return outcome


def expiring_half(reqs: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    return "expired", [result_line(r) for r in reqs[: len(reqs) // 2]]


def test_rejected_lines_and_an_expired_batch_go_to_retry_batches(
    api: Any, tmp_path: Path, small_batches: None
) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    fake = FakeBatchAPI(api, [rejecting(1), expiring_half])
    src = write_jsonl(tmp_path / "in.jsonl", papers(6))
    out = tmp_path / "out.jsonl"
    result = run_batch(src, out)
    assert result.exit_code == 0, result.output
    assert chat.call_count == 0
    records = read_jsonl(out)
    assert [r["extraction"]["models"][0]["name"] for r in records] == [
        f"FooNet{i}" for i in range(6)
    ]
    # Two batches, then one retry batch for each: the rejected line, the unfinished ones.
    assert [len(s) for s in fake.submitted] == [3, 3, 1, 2]
    first, second, retry1, retry2 = ({r["custom_id"] for r in s} for s in fake.submitted)
    assert retry1 < first and retry2 < second
    # Nothing paid twice: a line answered in a batch is never in another.
    answered = [
        json.loads(x)["custom_id"]
        for f, content in fake.files.items()
        if f.startswith("file-out")
        for x in content.splitlines()
        if json.loads(x)["response"]["status_code"] == 200
    ]
    assert len(answered) == len(set(answered)) == 6
    assert "retry batch" in result.output
    assert not (tmp_path / "out.errors.jsonl").exists()


def test_lines_that_fail_their_retries_go_to_the_errors_file(
    api: Any, tmp_path: Path, small_batches: None
) -> None:
    FakeBatchAPI(api, [rejecting(1), all_completed, rejecting(1)])
    src = write_jsonl(tmp_path / "in.jsonl", papers(4))
    out = tmp_path / "out.jsonl"
    result = run_batch(src, out)
    assert result.exit_code == 3
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "batch_failed"
    assert "HTTP 400" in error["error"]["message"]
    assert len(read_jsonl(out)) == 3


def test_fallback_live_sends_what_a_batch_did_not_answer(
    api: Any, tmp_path: Path, small_batches: None
) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    fake = FakeBatchAPI(api, [expiring_half, rejecting(1)])
    src = write_jsonl(tmp_path / "in.jsonl", papers(6))
    out = tmp_path / "out.jsonl"
    result = run_batch(src, out, "--batch-fallback", "live")
    assert result.exit_code == 0, result.output
    assert len(fake.submitted) == 2  # no retry batch
    assert chat.call_count == 2 + 1  # the unfinished half of the first, the rejected line
    assert len(read_jsonl(out)) == 6


def test_a_killed_run_resumes_its_batches_without_submitting_again(
    api: Any, tmp_path: Path, small_batches: None
) -> None:
    fake = FakeBatchAPI(api)
    src = write_jsonl(tmp_path / "in.jsonl", papers(5))
    out = tmp_path / "out.jsonl"

    def killed(_batch_id: str) -> None:
        raise KeyboardInterrupt

    fake.retrieve_hook = killed
    result = run_batch(src, out)
    assert result.exit_code == 130
    assert (fake.upload.call_count, fake.create.call_count) == (2, 2)
    state = json.loads((tmp_path / "out.jsonl.batch" / "state.json").read_text())
    assert [e["id"] for e in state["entries"]] == ["batch-1", "batch-2"]

    fake.retrieve_hook = None
    result = run_batch(src, out)
    assert result.exit_code == 0, result.output
    assert (fake.upload.call_count, fake.create.call_count) == (2, 2)  # nothing submitted again
    assert len(read_jsonl(out)) == 5
    # And a third run is served from the cache: nothing at all is sent.
    before = len(api.calls)
    result = run_batch(src, out)
    assert result.exit_code == 0
    assert len(api.calls) == before


def test_a_run_killed_between_create_and_saving_finds_its_batch(
    api: Any, tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeBatchAPI(api)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out = tmp_path / "out.jsonl"
    real_create = fake.create.side_effect

    def create_then_die(request: httpx.Request) -> httpx.Response:
        real_create(request)
        raise KeyboardInterrupt

    fake.create.side_effect = create_then_die
    assert run_batch(src, out).exit_code == 130
    fake.create.side_effect = real_create
    result = run_batch(src, out)
    assert result.exit_code == 0, result.output
    assert len(fake.batches) == 1 and fake.listing.call_count == 1  # created once, found again
    assert len(read_jsonl(out)) == 2


def test_invalid_batch_output_is_reasked_live(api: Any, tmp_path: Path) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    invalid = completion({"models": "not a list"})
    FakeBatchAPI(api, [lambda reqs: ("completed", [result_line(r, body=invalid) for r in reqs])])
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    out = tmp_path / "out.jsonl"
    result = run_batch(src, out)
    assert result.exit_code == 0, result.output
    assert chat.call_count == 1  # the re-ask, shown its validation error
    assert "validation" in json.dumps(json.loads(chat.calls[0].request.content)["messages"][-1])
    [record] = read_jsonl(out)
    assert record["meta"]["attempts"] == 2


def test_the_offline_batch_file_round_trip(api: Any, tmp_path: Path) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    requests = tmp_path / "requests.jsonl"
    result = invoke(str(src), "--batch-file", str(requests), env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 0, result.output
    assert chat.call_count == 0
    lines = read_jsonl(requests)
    assert len(lines) == 3
    # vllm run-batch's output format: the same lines, answered.
    results = write_jsonl(tmp_path / "results.jsonl", [result_line(r) for r in reversed(lines)])
    out = tmp_path / "out.jsonl"
    result = invoke(str(src), "-o", str(out), "--batch-results", str(results),
                    env={"OPENAI_API_KEY": "sk-test"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert chat.call_count == 0
    records = read_jsonl(out)
    assert [r["extraction"]["models"][0]["name"] for r in records] == [
        "FooNet0",
        "FooNet1",
        "FooNet2",
    ]

    # The same input live, with a fresh cache, writes the same records.
    live_out = tmp_path / "live.jsonl"
    result = invoke(str(src), "-o", str(live_out), "--cache-dir", str(tmp_path / "c2"),
                    env={"OPENAI_API_KEY": "sk-test"})  # fmt: skip
    assert result.exit_code == 0
    assert without_cost(read_jsonl(live_out)) == without_cost(records)
    assert [json.loads(c.request.content) for c in chat.calls] == [x["body"] for x in lines]


def test_a_record_missing_from_the_results_file_fails_unless_sent_live(
    api: Any, tmp_path: Path
) -> None:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    requests = tmp_path / "requests.jsonl"
    invoke(str(src), "--batch-file", str(requests), env={"OPENAI_API_KEY": "sk-test"})
    results = write_jsonl(tmp_path / "results.jsonl", [result_line(read_jsonl(requests)[0])])
    out = tmp_path / "out.jsonl"
    args = [str(src), "-o", str(out), "--batch-results", str(results)]
    result = invoke(*args, env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 3
    [error] = read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["error"]["type"] == "batch_missing"
    assert chat.call_count == 0
    result = invoke(*args, "--batch-fallback", "live", env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 0
    assert chat.call_count == 1
    assert len(read_jsonl(out)) == 2


def test_batch_status_and_cancel(api: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from extractor.cli import cli

    fake = FakeBatchAPI(api)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out = tmp_path / "out.jsonl"
    fake.retrieve_hook = lambda _b: (_ for _ in ()).throw(KeyboardInterrupt)
    assert run_batch(src, out).exit_code == 130
    fake.retrieve_hook = None
    cancel = api.post(url__regex=r"/batches/[^/]+/cancel$").mock(
        return_value=httpx.Response(200, json=_batch("batch-1", "file-in-1", "cancelling"))
    )
    env = {"OPENAI_API_KEY": "sk-test"}
    status = CliRunner().invoke(cli, ["batch", "status", str(out), "--base-url", BASE_URL], env=env)
    assert status.exit_code == 0, status.output
    assert "batch-1" in status.output and "requests-0001.jsonl" in status.output
    done = CliRunner().invoke(cli, ["batch", "cancel", str(out), "--base-url", BASE_URL], env=env)
    assert done.exit_code == 0, done.output
    assert cancel.call_count == 1


def test_max_cost_limits_what_goes_into_batches(api: Any, tmp_path: Path) -> None:
    from extractor.core.facts import analyze
    from extractor.pipeline.pricing import estimate_tokens
    from extractor.pipeline.prompt import load_prompt

    rows = papers(4)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    prompt = load_prompt("full", "anchored")
    facts = analyze(rows[0]["title"], rows[0]["abstract"])
    tokens = estimate_tokens(prompt.messages(rows[0]["title"], rows[0]["abstract"], facts.numbers))
    worst = (tokens + 64) * 1000 / 1e6 / 2  # at $1,000 per million tokens, batch at half
    fake = FakeBatchAPI(api)
    out = tmp_path / "out.jsonl"
    result = run_batch(src, out, "--price-in", "1000", "--price-out", "1000", "--max-tokens",
                       "64", "--max-cost", f"{2.5 * worst:.4f}")  # fmt: skip
    assert result.exit_code == 3, result.output
    assert [len(s) for s in fake.submitted] == [2]
    assert len(read_jsonl(out)) == 2
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [e["error"]["type"] for e in errors] == ["max_cost", "max_cost"]
