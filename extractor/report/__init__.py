"""The self-contained HTML review page of `extractor report`.

Its template, stylesheet and script are data files beside this module (template.html,
report.css, report.js) and are inlined into every page.
"""

from extractor.report.payload import build_payload
from extractor.report.render import render_html, render_report, script_json

__all__ = ["build_payload", "render_html", "render_report", "script_json"]
