"""JSON lines, tolerantly: one bad line costs a warning with its number, never the file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def json_objects(
    lines: Iterable[str], where: str, warn: Callable[[str], None]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each JSON object line; blank lines are skipped silently."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            warn(f"{where}:{number}: invalid JSON ({e.msg}), skipped")
            continue
        if isinstance(obj, dict):
            yield number, obj
        else:
            warn(f"{where}:{number}: not a JSON object, skipped")
