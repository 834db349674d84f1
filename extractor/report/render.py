"""One self-contained HTML review page: template, CSS, JS and the data, all inline.

Record text reaches the page only as JSON inside <script type="application/json">, escaped so
that nothing in it can close the element, and the page's JS writes it with textContent. The
Content-Security-Policy allows exactly the page's own script (by hash) and no network at all,
so even a bug in that escaping could neither run injected script nor phone home.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from extractor.report.payload import build_payload

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@cache
def _asset(name: str) -> str:
    return resources.files("extractor.report").joinpath(name).read_text(encoding="utf-8")


def script_json(obj: Any) -> str:
    """JSON that is inert inside a <script> element: no "<", ">" or "&" appears literally
    (so no "</script>" or "<!--"), and U+2028/U+2029 are escaped for older JS parsers."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escaped)
    return text


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def render_html(payload: Mapping[str, Any], *, title: str) -> str:
    script, style = _asset("report.js"), _asset("report.css")
    csp = (
        f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    values = {
        "title": html.escape(title),
        "csp": csp,  # our own constant text: no "&", "<" or double quote to escape
        "style": style,
        "script": script,
        "data": script_json(payload),
    }
    # One pass, so a "{{...}}" inside inserted text is never expanded again.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _asset("template.html"))


def render_report(
    records: Sequence[Mapping[str, Any]], *, title: str = "Extraction review", source: str = ""
) -> str:
    return render_html(build_payload(records, source=source), title=title)
