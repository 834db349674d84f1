"""What reaches the terminal is ours: the libraries' loggers are silent unless asked for.

instructor logs every failed attempt at ERROR ("API call failed on attempt 1: ...", whole
pydantic validation dumps), and with no handler configured Python prints those to stderr:
dozens of lines under a flaky endpoint, even with `-q`. `configure()` gives each library
logger a handler of ours: nothing by default; with `-v` (or EXTRACTOR_VERBOSE) their detail
on stderr, for debugging, with the API key redacted. Python warnings go the same way.
"""

from __future__ import annotations

import logging
import os
import re
import sys

LIBRARY_LOGGERS = (
    "instructor", "openai", "httpx", "httpcore", "tenacity", "asyncio", "xllamacpp",
    "py.warnings",
)  # fmt: skip
_MARK = "_extractor_handler"
_KEY_LIKE = re.compile(r"\b(sk|pk|key)-[A-Za-z0-9_\-*.]{4,}")


# The user info of a URL: what stands between "scheme://" and "@", which holds no "/", "?",
# "#", "@" or white space (RFC 3986), so it is found exactly whatever punctuation a
# password holds. The user name is kept (it says which account), the rest is the secret.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#@]*)@")
# A query parameter whose value is a credential (api_key, access_token, sig, password...),
# up to the next separator: over-redacting a trailing quote is fine, leaking is not.
_SECRET_QUERY = re.compile(
    r"(?i)([?&;][^=&;#\s]*(?:key|token|secret|pass|pwd|auth|sig|cred|session)[^=&;#\s]*=)[^&;#\s]*"
)
REDACTED = "[REDACTED]"


def _userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match[2].partition(":")
    return f"{match[1]}{user}:{REDACTED}@" if colon and user else f"{match[1]}{REDACTED}@"


def redact_urls(text: str) -> str:
    """`text` with the credentials URLs in it carry (a password, a token before "@", a
    credential-like query value) replaced; scheme, host, port and path kept, to say where."""
    if "://" in text:
        text = _USERINFO.sub(_userinfo, text)
    if "=" in text:
        text = _SECRET_QUERY.sub(rf"\1{REDACTED}", text)
    return text


def redact_url(url: str) -> str:
    """One URL fit to show (see `redact_urls`)."""
    return redact_urls(url)


def redact(text: str, secret: str | None) -> str:
    """Remove the key from text bound for a log, a file or the terminal; servers echo keys
    back masked ("sk-proj-****wxyz"), and even those fragments are not ours to print. The
    credentials a URL can carry go too (`redact_urls`)."""
    if secret:
        text = text.replace(secret, REDACTED)
    return _KEY_LIKE.sub(REDACTED, redact_urls(text))


def verbose_from_env() -> bool:
    return os.environ.get("EXTRACTOR_VERBOSE", "").strip().lower() not in ("", "0", "false", "no")


class _Redacting(logging.Formatter):
    def __init__(self, secret: str | None):
        super().__init__("extractor: [%(name)s] %(levelname)s %(message)s")
        self.secret = secret

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secret)


def configure(*, verbose: bool = False, secret: str | None = None) -> None:
    """Route the libraries' loggers through our handling (idempotent; the last call wins)."""
    logging.captureWarnings(True)
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Redacting(secret or os.environ.get("OPENAI_API_KEY")))
    else:
        handler = logging.NullHandler()
    setattr(handler, _MARK, True)
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False  # never up to the root logger or Python's last resort
        # Quiet: no record is even built (instructor formats its messages eagerly, though).
        # Verbose: instructor's validation detail, and the others' requests and warnings
        # (openai's DEBUG would print every request body).
        level = logging.DEBUG if name == "instructor" else logging.INFO
        logger.setLevel(level if verbose else logging.CRITICAL + 1)
