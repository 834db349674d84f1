"""One root for extractor's errors, one table of their exit statuses, one place the CLI
applies it (extractor/errors.py, extractor/cli/exit.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

import extractor
from extractor import errors
from extractor.cli import cli
from extractor.cli.exit import Group, RecordsCommand
from extractor.errors import EXIT_TABLE, ExitStatus, ExtractorError, exit_status
from tests.support.shared import BASE_URL

ROOT = Path(__file__).resolve().parent.parent

# Exceptions that never leave the module raising them: they steer control flow and are
# caught (or converted into an ExtractorError) right there, so no user ever meets one.
INTERNAL = {
    "extractor.model.openai_call.ModeUnsupported": "raised below instructor; becomes a mode fallback "
    "or ModeUnsupportedError",
    "extractor.model.openai_call.RepeatedAnswer": "ends instructor's re-asks; becomes a CallError",
    "extractor.model.openai_call.RetryAfterTooLong": "ends the retries; becomes a CallError",
    "extractor.pipeline.cache.UnreadableEntry": "one cache value that cannot be read: a miss",
    "extractor.model.local.fetch._Unavailable": "one download source failed; the next is tried",
    "extractor.pipeline.batch._Captured": "a BaseException that stops the SDK where it would send, "
    "so a request body can be kept; never retried, never seen outside",
}

# The contract (CONTRACT.md, docs/usage/run.md): written out here, not read from the table,
# so that a change to the table is a change to this test too.
EXPECTED = {
    "ExtractorError": 2,
    "ConfigError": 2,
    "PriceError": 2,
    "InputError": 2,
    "OutputError": 2,
    "EvalInputError": 2,
    "FatalError": 2,
    "EndpointError": 2,
    "ModeUnsupportedError": 2,
    "BatchError": 2,
    "CacheError": 2,
    "LocalModelError": 2,
    "RecordError": 3,
    "CallError": 3,
    "ExtractionError": 3,
    "KeyboardInterrupt": 130,
}


def _package_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in a module of extractor, each once."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(extractor.__path__, "extractor."):
        if info.name == "extractor.__main__":  # runs the CLI when imported
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == info.name
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_every_exception_of_the_package_is_an_extractor_error_or_internal() -> None:
    classes = _package_exceptions()
    assert len(classes) > 20  # the walk found the modules (22 classes before errors.py)
    strays = [
        _name(c)
        for c in classes
        if not issubclass(c, ExtractorError)
        and _name(c) not in INTERNAL
        # click's own exception classes for its usage errors
        and not issubclass(c, click.ClickException)
    ]
    assert strays == [], "derive these from an extractor.errors class, or list them in INTERNAL"
    names = {_name(c) for c in classes}
    assert set(INTERNAL) <= names, "INTERNAL names a class that no longer exists"
    assert not any(issubclass(c, ExtractorError) for c in classes if _name(c) in INTERNAL)


def test_every_error_has_its_exit_status_in_the_one_table() -> None:
    table = {cls.__name__: int(status) for cls, status, _ in EXIT_TABLE}
    assert table == EXPECTED
    # every class errors.py defines is a row of the table, none is left to inheritance
    defined = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, ExtractorError)
    }
    assert defined == set(table) - {"KeyboardInterrupt"}
    # the classes elsewhere (the kinds of LocalModelError) get their nearest row's status
    for cls in _package_exceptions():
        if issubclass(cls, ExtractorError):
            nearest = next(c for c in cls.__mro__ if c.__name__ in table)
            status = exit_status(cls.__new__(cls))
            assert status == table[nearest.__name__], _name(cls)
    assert exit_status(KeyboardInterrupt()) == ExitStatus.INTERRUPTED
    assert errors.FatalError("x").exit_status == 2
    assert errors.CallError("timeout", "x").exit_status == 3
    with pytest.raises(LookupError):
        exit_status(RuntimeError("a bug, not a status"))


def test_the_old_names_are_the_same_classes_with_their_builtin_bases() -> None:
    from extractor import api
    from extractor.core import evaluate, jsonl
    from extractor.model import call, openai_call
    from extractor.model.local import errors as local_errors
    from extractor.pipeline import cache, files, pricing
    from extractor.pipeline.read import InputError as read_input_error

    assert call.FatalError is errors.FatalError and call.CallError is errors.CallError
    assert call.BatchError is errors.BatchError and cache.CacheError is errors.CacheError
    assert api.ConfigError is errors.ConfigError is extractor.ConfigError
    assert api.ExtractionError is errors.ExtractionError is extractor.ExtractionError
    assert extractor.FatalError is errors.FatalError
    assert extractor.ExtractorError is ExtractorError
    assert jsonl.InputError is read_input_error is errors.InputError
    assert files.OutputError is errors.OutputError
    assert evaluate.EvalInputError is errors.EvalInputError
    assert pricing.PriceError is errors.PriceError
    assert openai_call.ModeUnsupportedError is errors.ModeUnsupportedError
    assert local_errors.LocalModelError is errors.LocalModelError
    # callers catch these as the built-ins they were
    for cls in (errors.ConfigError, errors.PriceError, errors.EvalInputError):
        assert issubclass(cls, ValueError)
    assert issubclass(errors.OutputError, errors.InputError)
    assert issubclass(errors.CacheError, errors.FatalError)
    assert issubclass(errors.CacheError, errors.BatchError)
    assert issubclass(errors.EndpointError, errors.FatalError)
    assert issubclass(local_errors.FetchError, errors.LocalModelError)
    # Ctrl-C stays out of the hierarchy: `except Exception` must never swallow it
    assert not issubclass(KeyboardInterrupt, ExtractorError)


def test_errors_imports_nothing_of_extractor_and_sits_below_core() -> None:
    tree = ast.parse((ROOT / "extractor" / "errors.py").read_text(encoding="utf-8"))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [m for m in imported if m and m.startswith("extractor")]
    layers = re.search(r"layers = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.S)
    assert layers is not None
    order = re.findall(r'"([^"]+)"', layers.group(1))
    assert order[-2:] == ["extractor.core", "extractor.errors"]


def test_the_docs_show_the_table_as_it_is() -> None:
    page = (ROOT / "docs" / "usage" / "run.md").read_text(encoding="utf-8")
    assert errors.markdown_table() in page


def test_no_command_names_an_exit_number() -> None:
    """The statuses live in extractor.errors; a command returns one of ExitStatus or fail()."""
    literal = re.compile(r"EXIT_[A-Z]+\s*=|(sys|ctx)\.exit\(\s*\d|exit_code\s*=\s*\d")
    for path in sorted((ROOT / "extractor" / "commands").glob("*.py")):
        assert not literal.search(path.read_text(encoding="utf-8")), path.name


def test_every_command_ends_through_the_one_mapping() -> None:
    assert isinstance(cli, Group)
    for name in ("eval", "table", "report"):  # their own "Error: " prefix, same statuses
        assert isinstance(cli.commands[name], RecordsCommand)


def _instance(cls: type[ExtractorError]) -> ExtractorError:
    if cls is errors.CallError:
        return cls("timeout", "no answer")
    if cls is errors.ModeUnsupportedError:
        return cls("the endpoint cannot do --mode tools: no", "tools", "no")
    if cls is errors.ExtractionError:
        return cls({"id": "p1", "error": {"type": "timeout", "message": "no answer"}})
    return cls(f"{cls.__name__} happened")


@pytest.mark.parametrize(
    "cls",
    [c for c, _, _ in EXIT_TABLE if issubclass(c, ExtractorError)],
    ids=lambda c: c.__name__,
)
def test_the_group_ends_any_command_with_the_errors_line_and_status(
    cls: type[ExtractorError],
) -> None:
    group = Group("g")

    @group.command("fails")
    def fails() -> None:
        raise _instance(cls)

    result = CliRunner().invoke(group, ["fails"])
    assert result.exit_code == EXPECTED[cls.__name__]
    assert result.stderr == f"extractor: {_instance(cls)}\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_ctrl_c_in_any_command_is_130_and_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_a: Any, **_k: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("extractor.cli.commands.table.load_records_for_cli", interrupted)
    result = CliRunner().invoke(cli, ["table", "out.jsonl"])
    assert result.exit_code == 130
    assert result.stderr == "Error: interrupted\n"


def _one_line(result: Any, status: int, expected: str, prefix: str = "extractor: ") -> None:
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    assert expected in lines[0]


def test_run_input_price_and_endpoint_errors(tmp_path: Path, api: Any) -> None:
    missing = tmp_path / "none.jsonl"
    remote = ["run", "--base-url", BASE_URL, "-q"]
    _one_line(CliRunner().invoke(cli, [*remote, str(missing)]), 2, "none.jsonl")  # InputError
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "p1", "title": "T", "abstract": "A model."}\n')
    # --max-cost without a price for the model: PriceError
    priced = [*remote, "-m", "no-such-model", "--max-cost", "1", str(src)]
    _one_line(CliRunner().invoke(cli, priced), 2, "--max-cost needs a price")
    # the endpoint refuses the key: EndpointError, before any paid request
    api.routes[0].mock(return_value=httpx.Response(401, json={"error": {"message": "bad"}}))
    env = {"OPENAI_API_KEY": "sk-test-key"}
    result = CliRunner().invoke(cli, [*remote, "-o", str(tmp_path / "o.jsonl"), str(src)], env=env)
    _one_line(result, 2, "rejected the API key")
    assert not (tmp_path / "o.jsonl").exists()


def test_cache_batch_eval_models_and_check_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = tmp_path / "cache"
    damaged.mkdir()
    (damaged / "cache.db").write_bytes(b"not a database" * 100)
    stats = CliRunner().invoke(cli, ["cache", "stats", "--cache-dir", str(damaged)])
    _one_line(stats, 2, "extractor cache clear")  # CacheError, with the way out
    status = CliRunner().invoke(cli, ["batch", "status", "--offline", str(tmp_path / "o.jsonl")])
    _one_line(status, 2, "no batches for")  # BatchError
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"title": "T"}\nnot json\n')
    scored = CliRunner().invoke(cli, ["eval", str(gold), str(gold)])
    _one_line(scored, 2, "invalid JSON", prefix="Error: ")  # InputError, strict reader

    from extractor.model.local.errors import FetchError, ModelNotFoundError

    def no_fetch(*_a: Any, **_k: Any) -> Any:
        raise FetchError("every source failed: offline")

    monkeypatch.setattr("extractor.model.local.resolve", no_fetch)
    fetched = CliRunner().invoke(cli, ["models", "--fetch", "smollm2-135m"])
    # LocalModelError: `models` keeps the 1 it always exited with (test_local_models_cmd)
    _one_line(fetched, 1, "every source failed", prefix="Error: ")

    def no_model(*_a: Any, **_k: Any) -> Any:
        raise ModelNotFoundError("model file not found")

    monkeypatch.setattr("extractor.model.local.local_endpoint", no_model)
    checked = CliRunner().invoke(cli, ["check", "-m", "local:smollm2-135m"])
    _one_line(checked, 2, "model file not found")
