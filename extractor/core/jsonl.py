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

from extractor.errors import InputError


def json_objects(
    lines: Iterable[str], where: str, warn: Callable[[str], None], *, strict: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each JSON object line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.startswith("\ufeff"):  # a byte-order mark: files joined with `cat`
            line = line[1:]
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problem = f"{where}:{number}: invalid JSON ({e.msg})"
        except ValueError as e:  # an integer of more digits than Python converts
            problem = f"{where}:{number}: invalid JSON ({str(e).split(';')[0]})"
        except RecursionError:
            problem = f"{where}:{number}: invalid JSON (nested too deeply)"
        else:
            if isinstance(obj, dict):
                yield number, obj
                continue
            problem = f"{where}:{number}: not a JSON object"
        if strict:
            raise InputError(problem)
        warn(f"{problem}, skipped")
