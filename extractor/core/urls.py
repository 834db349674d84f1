"""Find the URLs a text writes, and guess what each points to.

Deterministic and conservative: a URL is `http(s)://...`, `www....`, or a bare address on a host
that only ever holds code, weights or pages (`github.com/...`, `huggingface.co/...`,
`name.github.io/...`). It ends at whitespace, at characters a URL cannot hold unescaped
(`<>"{}|^` and backticks, which also ends the LaTeX `\\url{...}` and `{...}` wrappers seen in
abstracts), and then loses trailing sentence punctuation and unbalanced closing brackets:
"(see https://github.com/a/b)." gives "https://github.com/a/b". A LaTeX escape inside a URL
(`a\\_b`) is kept as written.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from extractor.core.normalize import lower_keep_offsets

# Characters a URL cannot hold unescaped end it, and so do full-width punctuation and curly
# quotes (text around a URL, never part of one as written in an abstract).
_BODY = re.compile(
    r"(?:[^\s<>\"'{}|\\^`\[\]\u2018\u2019\u201c\u201d\u3000-\u303f\uff00-\uffef]|\\[_%&#~])+"
)
# Where a URL can start, found with str.find on the lowercased text: one case-insensitive
# regex over the whole text costs ~100 us per abstract, these finds ~3 us.
# Bare addresses are taken only on hosts that hold nothing but code, weights and pages, and with
# a path there (a bare "github.com" names the site, not a link); "name.github.io" is a page.
# Bare hosts by the ".co"/".org" that every one of them holds, so one find looks for all.
_BARE = {
    ".co": ("github.com/", "gitlab.com/", "huggingface.co/", "hf.co/"),
    ".org": ("bitbucket.org/",),
}
_PAGE = ".github.io"
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_TRAILING = ".,;:!?*'\""
_PAIRS = {")": "(", "]": "[", "}": "{"}


class FoundUrl(NamedTuple):
    """A URL as written, at `text[start:end]`."""

    url: str
    start: int
    end: int


def _trim(url: str) -> str:
    # One pass from the end with the brackets counted once: trimming a char at a time with a
    # count of the whole URL each was quadratic ("https://x.org/" and 40,000 ")" took 2 s).
    opened = {c: url.count(o) for c, o in _PAIRS.items()}
    closed = {c: url.count(c) for c in _PAIRS}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in _TRAILING:
            end -= 1
        elif last in _PAIRS and closed[last] > opened[last]:
            closed[last] -= 1  # "(see https://x/y)": the bracket closes the sentence's
            end -= 1
        else:
            break
    return url[:end]


def _starts(low: str) -> list[int]:
    """Offsets where a URL may begin, from the anchors above."""
    starts = []
    # Colons are few in prose, and a one-character find is a memchr: ~20x cheaper than
    # finding "://" itself on this hot path.
    i = low.find(":")
    while i >= 0:
        if low.startswith("//", i + 1):
            if low.endswith("https", 0, i):
                starts.append(i - 5)
            elif low.endswith("http", 0, i):
                starts.append(i - 4)
        i = low.find(":", i + 1)
    candidates = []
    i = low.find("www.")
    while i >= 0:
        candidates.append(i)
        i = low.find("www.", i + 1)
    for dot, hosts in _BARE.items():
        i = low.find(dot)
        while i >= 0:
            for host in hosts:
                start = i - host.index(dot)
                if start >= 0 and low.startswith(host, start):
                    candidates.append(start)
            i = low.find(dot, i + 1)
    for i in candidates:
        # Not inside a longer name or address ("mywww.", "api.github.com/"); a URL with a
        # scheme that holds it was found above, and overlaps are dropped in find_urls.
        if i == 0 or (low[i - 1] not in _HOST_CHARS and low[i - 1] not in "/@:"):
            starts.append(i)
    i = low.find(_PAGE)
    last, last_s = -1, 0  # the previous ".github.io" and where its host began
    while i >= 0:
        s = i
        while s > last + 1 and low[s - 1] in _HOST_CHARS:
            s -= 1
        if s == last + 1 and last >= 0:
            # back to the previous one through host characters alone: the same host run
            # (walking it again for each was quadratic in "a.github.ioa.github.io...")
            s = last_s
        last, last_s = i, s
        after = i + len(_PAGE)
        rest = low[after : after + 2]  # "name.github.io." ends a sentence, not the host
        ends_host = rest[:1] not in _HOST_CHARS or (rest[0] == "." and rest[1:] not in _HOST_CHARS)
        if s < i and ends_host and (s == 0 or low[s - 1] not in "/@:"):
            starts.append(s)
        i = low.find(_PAGE, i + 1)
    if " at " in low or " on " in low or "see " in low or "visit " in low:
        for m in _INTRODUCED_HOST.finditer(low):
            starts.append(m.start(1))
    return sorted(set(starts))


# A bare host that the sentence introduces as a place to go ("open sourced at 4m.epfl.ch",
# "visit mmbench.org"): any host then, but only after such a word and with a country or common
# top-level domain, so "e.g." or "Fig.3" never qualify.
_INTRODUCED_HOST = re.compile(
    r"\b(?:at|on|see|visit|via)\s+((?:[a-z0-9][a-z0-9-]*\.)+(?:com|org|net|io|ai|dev|edu|"
    r"app|page|site|info|ch|de|uk|fr|cn|jp|kr|ca|nl|eu|it|es|se|us|in|sg|hk|au)"
    r"(?![a-z0-9-])(?:/[^\s]*)?)",
)


def find_urls(text: str) -> list[FoundUrl]:
    """Every URL in `text`, in order, with its offsets; repeats are kept."""
    low = lower_keep_offsets(text)
    found: list[FoundUrl] = []
    covered = 0
    for start in _starts(low):
        if start < covered:
            continue
        m = _BODY.match(text, start)
        if m is None:
            continue
        covered = m.end()
        url = _trim(m.group())
        host, path = _split(url)
        if "." not in host or host.endswith(".") or host.startswith("."):
            continue  # "https://" alone, or a cut-off address
        bare = "://" not in url and not low.startswith("www.", start)
        introduced = bare and _INTRODUCED_HOST.match(low, max(0, low.rfind(" ", 0, start - 1) + 1))
        if bare and not introduced and not host.endswith(_PAGE) and not path.strip("/"):
            continue  # "github.com/" names the site, not a link
        found.append(FoundUrl(url, start, start + len(url)))
    return found


def _split(url: str) -> tuple[str, str]:
    """(host, path) of a URL with or without a scheme; host lowercased, without "www."."""
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "", ""
    return host.removeprefix("www."), parts.path


def _host(url: str) -> str:
    return _split(url)[0]


def url_key(url: str) -> str:
    """EVAL.md's URL identity: scheme and host lowercased, http/https and a leading "www."
    ignored, trailing "/", ".", ",", ";", ")" dropped."""
    u = url.strip()
    scheme = ""
    cut = u.find("://")
    if 0 < cut <= 10 and u[:cut].isalpha():
        scheme = u[:cut].lower()
        u = u[cut + 3 :]
    prefix = "" if scheme in ("", "http", "https") else scheme + "://"
    host, sep, rest = u.partition("/")
    host = host.lower().removeprefix("www.")
    return (prefix + host + sep + rest).rstrip("/.,;)")


_CODE_HOSTS = {"github.com", "gitlab.com", "bitbucket.org", "gitee.com", "codeberg.org"}
_PAGE_SUFFIXES = (".github.io", ".gitlab.io", ".vercel.app", ".netlify.app", ".pages.dev")
_OTHER_HOSTS = {"arxiv.org", "doi.org", "dx.doi.org", "openreview.net", "aclanthology.org"}
_DATA_HOSTS = {"zenodo.org", "figshare.com", "physionet.org", "kaggle.com"}


def infer_kind(url: str) -> str:
    """A link kind (schema.LinkKind) from the URL alone: the host and the path's shape."""
    host, path = _split(url)
    segments = [s for s in path.split("/") if s]
    if host in _CODE_HOSTS:
        return "code" if len(segments) >= 2 else "other"
    if host in {"huggingface.co", "hf.co"}:
        first = segments[0] if segments else ""
        if first == "datasets":
            return "data"
        if first == "spaces":
            return "demo"
        if first in {"papers", "docs", "blog", "learn", "posts"} or len(segments) < 2:
            return "other"
        return "model"  # <org>/<model>, and collections of models
    if host.endswith("modelscope.cn"):
        first = segments[0] if segments else ""
        return {"models": "model", "datasets": "data", "studios": "demo"}.get(first, "other")
    if host == "colab.research.google.com":
        return "code"
    if host in _OTHER_HOSTS or host.endswith(".arxiv.org"):
        return "other"
    if host in _DATA_HOSTS:
        return "data"
    if host.endswith(_PAGE_SUFFIXES):
        return "project_page"
    return "project_page" if host else "other"
