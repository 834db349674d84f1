"""Normalization users expect: modality synonyms to the fixed list, unit spellings, names."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_MODALITIES = {
    "text", "image", "video", "audio", "speech", "3d", "depth", "tabular",
    "time_series", "graph", "code", "brain_signal", "sensor", "other",
}  # fmt: skip

# Synonyms seen from models and in papers; anything else unknown is dropped rather than
# forced into "other", which would add a wrong modality to the record.
_MODALITY_SYNONYMS = {
    "images": "image", "vision": "image", "visual": "image", "picture": "image", "photo": "image",
    "videos": "video", "language": "text", "textual": "text", "natural language": "text",
    "sound": "audio", "music": "audio", "voice": "speech", "point cloud": "3d",
    "point clouds": "3d", "mesh": "3d", "3-d": "3d", "3d shape": "3d", "depth map": "depth",
    "table": "tabular", "tables": "tabular", "time series": "time_series",
    "time-series": "time_series", "timeseries": "time_series", "graphs": "graph",
    "source code": "code", "program": "code", "eeg": "brain_signal", "fmri": "brain_signal",
    "brain signal": "brain_signal", "brain signals": "brain_signal", "imu": "sensor",
    "lidar": "sensor", "radar": "sensor", "thermal": "sensor", "event camera": "sensor",
    "sensors": "sensor", "multimodal": "",
}  # fmt: skip


def normalize_modality(value: str) -> str | None:
    key = " ".join(value.strip().lower().replace("_", " ").split())
    if key.replace(" ", "_") in _MODALITIES:
        return key.replace(" ", "_")
    mapped = _MODALITY_SYNONYMS.get(key)
    return mapped or None


def normalize_modalities(values: list[Any]) -> list[str]:
    out: dict[str, None] = {}
    for v in values:
        if isinstance(v, str) and (m := normalize_modality(v)):
            out.setdefault(m, None)
    return list(out)


_UNIT_SYNONYMS = {
    "times": "x", "time": "x", "fold": "x", "-fold": "x", "×": "x", "x": "x", "X": "x",
    "percent": "%", "percentage": "%", "pct": "%", "%": "%",
    "point": "points", "pts": "points", "pp": "points", "percentage points": "points",
    "hour": "hours", "h": "hours", "hrs": "hours",
    "second": "seconds", "seconds": "seconds", "sec": "seconds", "secs": "seconds", "s": "seconds",
    "millisecond": "ms", "milliseconds": "ms", "fps": "FPS",
}  # fmt: skip
# The canonical spellings themselves, by their lowercase: "Seconds" and "HOURS" are "seconds"
# and "hours", not units of their own.
_UNIT_CANONICAL = {v.lower(): v for v in _UNIT_SYNONYMS.values()}


def normalize_unit(unit: str) -> str | None:
    u = unit.strip()
    low = u.lower()
    if not u or low in {"null", "none", "n/a"}:
        return None
    return _UNIT_SYNONYMS.get(u) or _UNIT_SYNONYMS.get(low) or _UNIT_CANONICAL.get(low, u)


def text_key(text: str) -> str:
    """EVAL.md's key for titles and names: casefolded, letters and digits only.

    The one name key of the project: `eval` pairs by it, grounding merges duplicates by it, the
    leaderboard builds on it (`leaderboard.fold`, which keeps decimal points). Letters beyond
    ASCII are letters: "α-CLIP" and "CLIP" stay apart.
    """
    return _NOT_ALNUM.sub("", text.casefold())


# `\W` is the complement of `str.isalnum()` plus "_", so this keeps exactly letters and digits.
_NOT_ALNUM = re.compile(r"[\W_]+")


_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def merge_key(name: str) -> str:
    """The key that decides two names are one item (duplicates in a record, rows of a
    leaderboard): `text_key`, with two departures, because a wrong merge moves a number into
    another model's row: NFKC first, so full-width and ligature spellings from PDFs are one
    name; and a decimal point between digits is kept, because "Qwen2-1.5B" and "Qwen2-15B",
    or "LLaVA-1.5" and "LLaVA-15", are not one model."""
    text = unicodedata.normalize("NFKC", name)
    return ".".join(text_key(part) for part in _DECIMAL_POINT.split(text))


def lower_keep_offsets(text: str) -> str:
    """`text.lower()` with the same length, so offsets found in it index `text`: a few characters
    lowercase to two ("İ"); then only ASCII is lowered and the rest becomes "?"."""
    low = text.lower()
    if len(low) != len(text):
        low = text.encode("ascii", "replace").decode("ascii").lower()
    return low


def normalize_task(task: str) -> str:
    return " ".join(task.split()).lower()


def normalize_tasks(values: list[Any]) -> list[str]:
    out: dict[str, None] = {}
    for v in values:
        if isinstance(v, str) and (t := normalize_task(v)):
            out.setdefault(t, None)
    return list(out)


_WORD_SPLIT = re.compile(r"[^\w]+|_")


def task_words(task: str) -> frozenset[str]:
    """Words a task is compared by (EVAL.md): casefolded, split on non-alphanumerics,
    a trailing "s" dropped from words longer than 3 letters."""
    words = set()
    for w in _WORD_SPLIT.split(task.casefold()):
        if w:
            words.add(w[:-1] if len(w) > 3 and w.endswith("s") else w)
    return frozenset(words)
