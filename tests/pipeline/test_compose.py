"""One composition root (`extractor.pipeline.compose`): `check` sends what `run` sends, the library's
`extractor.run` is the CLI's run, and the library's client is paced like the CLI's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner

import extractor
from extractor.cli import cli
from extractor.config import ModelConfig, RunConfig, ScaleOptions
from extractor.pipeline.probe import PAPERS
from tests.cli.test_check import vllm_like
from tests.cli.test_run import answer, papers, read_jsonl, write_jsonl
from tests.cli.test_trust import fake_local_server  # noqa: F401  (a fixture)
from tests.support.cassette import mode_of
from tests.support.shared import BASE_URL, models_list


def _bodies(mock: respx.MockRouter) -> list[dict[str, Any]]:
    """Every chat completion's JSON body, in the order they were sent."""
    sent: list[dict[str, Any]] = []

    def side_effect(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return vllm_like(request)

    mock.get("/models").mock(return_value=models_list())
    mock.get("http://llm.test/props").mock(return_value=httpx.Response(404))
    mock.post("/chat/completions").mock(side_effect=side_effect)
    return sent


def _run_and_check(
    tmp_path: Path, model: list[str], options: list[str], env: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first body `run` sends for check's own probe paper, and the body `check` sends in
    that mode, for the same options. 256 tokens: check's default answer limit."""
    title, abstract = PAPERS[0]
    src = write_jsonl(tmp_path / "in.jsonl", [{"title": title, "abstract": abstract}])
    common = [*model, "--max-tokens", "256", *options]
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        run_sent = _bodies(mock)
        ran = CliRunner().invoke(
            cli, ["run", str(src), "-o", str(tmp_path / "out.jsonl"), "-q", *common], env=env
        )
    assert ran.exit_code in (0, 3), ran.output
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        check_sent = _bodies(mock)
        checked = CliRunner().invoke(cli, ["check", *common], env=env)
    assert checked.exit_code in (0, 1), checked.output
    first = run_sent[0]
    probes = [b for b in check_sent if mode_of(b) == mode_of(first)]
    assert probes, f"check sent no {mode_of(first)} request"
    return first, probes[0]


REMOTE_OPTIONS = [
    pytest.param([], {}, id="defaults"),
    pytest.param(["--results", "free", "--prompt", "compact"], {}, id="results-and-prompt"),
    pytest.param(["--mode", "tools", "--temperature", "0.3"], {}, id="mode-and-temperature"),
    pytest.param([], {"EXTRACTOR_RESULTS": "rule"}, id="env-results"),
]


@pytest.mark.parametrize(("options", "env"), REMOTE_OPTIONS)
def test_check_sends_the_body_run_sends_to_a_remote_endpoint(
    tmp_path: Path, options: list[str], env: dict[str, str]
) -> None:
    model = ["--base-url", BASE_URL, "-m", "test-model"]
    run_body, check_body = _run_and_check(tmp_path, model, options, env)
    assert check_body == run_body
    assert PAPERS[0][1] in run_body["messages"][-1]["content"]


LOCAL_OPTIONS = [
    pytest.param([], {}, id="defaults"),  # compact prompt, rule results: both, for a local model
    pytest.param(["--results", "anchored"], {}, id="results"),
    pytest.param(["--prompt", "full"], {"EXTRACTOR_RESULTS": "free"}, id="prompt-and-env"),
]


@pytest.mark.parametrize(("options", "env"), LOCAL_OPTIONS)
def test_check_sends_the_body_run_sends_to_the_embedded_model(
    tmp_path: Path,
    fake_local_server: list[dict[str, Any]],  # noqa: F811
    options: list[str],
    env: dict[str, str],
) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    run_body, check_body = _run_and_check(tmp_path, ["-m", f"local:{gguf}"], options, env)
    assert check_body == run_body
    assert [s["spec"] for s in fake_local_server] == [f"local:{gguf}"] * 2


def test_a_local_check_probes_the_prompt_and_results_run_uses(
    tmp_path: Path,
    fake_local_server: list[dict[str, Any]],  # noqa: F811
) -> None:
    """What the two used to disagree on: check probed a local model with anchored results."""
    from extractor.pipeline.prompt import load_prompt

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    run_body, _ = _run_and_check(tmp_path, ["-m", f"local:{gguf}"], [], {})
    assert run_body["messages"][0]["content"] == load_prompt("compact", "rule").system


def test_check_without_key_or_url_for_a_remote_model_is_one_usage_line() -> None:
    result = CliRunner().invoke(cli, ["check", "-m", "gpt-4o"])
    assert result.exit_code == 2
    assert "needs OPENAI_API_KEY or --base-url" in result.stderr
    assert "Traceback" not in result.output


def test_extractor_run_is_the_cli_run(api: Any, tmp_path: Path) -> None:
    """Files in, OUT and the errors file out, byte for byte what `extractor run` writes."""
    from tests.test_api import fail_foonet1

    api.post("/chat/completions").mock(side_effect=fail_foonet1)
    src = write_jsonl(tmp_path / "in.jsonl", papers(4))
    cli_out, lib_out = tmp_path / "cli.jsonl", tmp_path / "lib.jsonl"
    ran = CliRunner().invoke(
        cli, ["run", str(src), "-o", str(cli_out), "--base-url", BASE_URL, "--no-cache", "-q"]
    )
    assert ran.exit_code == 3, ran.output
    said: list[str] = []
    settings = extractor.build_config(
        [str(src)], output=str(lib_out), base_url=BASE_URL, no_cache=True, quiet=True
    )
    result = extractor.run(settings, say=said.append)
    assert result.status == 3 and not result.ok
    assert result.summary is not None and result.summary.written == 3
    assert lib_out.read_bytes() == cli_out.read_bytes()
    lib_errors = tmp_path / "lib.errors.jsonl"
    assert lib_errors.read_bytes() == (tmp_path / "cli.errors.jsonl").read_bytes()
    assert [e["error"]["type"] for e in read_jsonl(lib_errors)] == ["http_error"]
    # Bad input is the CLI's usage error: one line, status 2, OUT as it was.
    missing = dataclassed(settings, inputs=[str(tmp_path / "missing.jsonl")])
    stopped = extractor.run(missing, say=said.append)
    assert stopped.status == 2 and stopped.summary is None
    assert "missing.jsonl" in said[-1] and "\n" not in said[-1]
    assert lib_out.read_bytes() == cli_out.read_bytes()


def test_extractor_run_refuses_batch_options_that_cannot_work(tmp_path: Path) -> None:
    """As `extractor run` does, before anything is read or sent."""
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    settings = extractor.build_config([str(src)], base_url=BASE_URL, quiet=True)
    said: list[str] = []
    batch = dataclassed(settings, scale=ScaleOptions(batch=True))  # no output to keep state by
    assert extractor.run(batch, say=said.append).status == 2
    assert said == ["--batch keeps its state beside the output: give -o OUT.jsonl"]
    ran = CliRunner().invoke(cli, ["run", str(src), "--base-url", BASE_URL, "--batch"])
    assert ran.exit_code == 2 and said[0] in ran.stderr


def dataclassed(config: RunConfig, **changes: Any) -> RunConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)


def test_the_library_client_goes_through_the_rate_limiter(api: Any, tmp_path: Path) -> None:
    """As `extractor run`'s does (and so each Ray actor's, which owns an Extractor)."""
    api.post("/chat/completions").mock(side_effect=answer)
    config = RunConfig(
        inputs=[],
        cache_dir=tmp_path / "cache",
        model=ModelConfig(model="test-model", base_url=BASE_URL),
        scale=ScaleOptions(rpm=6000),
    )
    with extractor.Extractor(config) as ex:
        records = list(ex.run(papers(3)))
        assert len(records) == 3
        assert ex.limiter is not None and ex.limiter.stats.requests == 3


def test_ray_actors_share_the_run_s_limits() -> None:
    from extractor.pipeline.compose import share_limits

    config = RunConfig(inputs=[], scale=ScaleOptions(rpm=600, tpm=90_000))
    shared = share_limits(config, 3)
    assert (shared.scale.rpm, shared.scale.tpm) == (200, 30_000)
    assert share_limits(config, 1) is config
    assert config.scale.rpm == 600  # the run's own settings are not changed


def test_one_module_constructs_the_model_client() -> None:
    """Every engine's call comes from `compose.model_call`: a second construction site is how
    `check` and `run` came to send different requests."""
    root = Path(extractor.__file__).resolve().parent
    sites = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "OpenAICall(" in path.read_text(encoding="utf-8")
    )
    assert sites == ["pipeline/compose.py"]
