"""JSON lines, the one reader of them all (`run`'s JSONL input, `eval`, `table`, `report`), and
the one error for an input that cannot be used.

Policy on a bad line (not JSON, or not an object): by default it costs a warning with its
line number and is skipped, never the file (an interrupted run's last line, a hand-edited
file); with `strict`, it is an `InputError` naming the line. Blank lines are skipped silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

_NESTED = (float, dict, list)


class InputError(Exception):
    """An input that cannot be used (missing, unreadable, malformed where that matters): the
    command stops with one line on stderr and exit status 2, before anything is written."""


def loads(text: str | bytes) -> Any:
    """`json.loads`, exactly, at orjson's speed (2x on abstract-sized lines): what orjson
    refuses (NaN, lone surrogates) or reads differently (integers beyond 64 bits, which it
    rounds to floats: any float of that size sends the line to the standard library) is
    left to the standard library."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # it reads them, or says why not
    if _rounded(obj):
        return json.loads(text)
    return obj


def _rounded(value: Any) -> bool:
    """Whether `value` holds a float that may be an integer orjson rounded (beyond 64 bits)."""
    kind = type(value)
    if kind is float:
        return value.is_integer() and abs(value) >= 2.0**63  # type: ignore[no-any-return]
    if kind is dict:
        return any(type(v) in _NESTED and _rounded(v) for v in value.values())
    if kind is list:
        return any(type(v) in _NESTED and _rounded(v) for v in value)
    return False


def json_objects(
    lines: Iterable[str], where: str, warn: Callable[[str], None], *, strict: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each JSON object line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except json.JSONDecodeError as e:
            problem = f"{where}:{number}: invalid JSON ({e.msg})"
        else:
            if isinstance(obj, dict):
                yield number, obj
                continue
            problem = f"{where}:{number}: not a JSON object"
        if strict:
            raise InputError(problem)
        warn(f"{problem}, skipped")
