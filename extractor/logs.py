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


# A URL in running text: up to white space or the quotes and brackets that end one.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]+")
# Query parameters whose value is a credential (api_key, access_token, sig, password, ...).
_SECRET_PARAM = re.compile(r"(?i)key|token|secret|pass|pwd|auth|sig|cred|session")
_QUERY_PAIR = re.compile(r"([^&=;]+)=([^&;]*)")
REDACTED = "[REDACTED]"


def redact_url(url: str) -> str:
    """A URL fit to show: the password of `user:password@` (or a lone token before `@`)
    and credential-like query values replaced; host, port and path kept, to say where."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))  # fmt: skip
    netloc, tail = rest[:end], rest[end:]
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
        netloc = f"{user}:{REDACTED}@{host}" if user else f"{REDACTED}@{host}"
    path, qmark, query = tail.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        query = _QUERY_PAIR.sub(
            lambda m: f"{m[1]}={REDACTED}" if _SECRET_PARAM.search(m[1]) else m[0], query
        )
        tail = f"{path}?{query}{hash_}{fragment}"
    return f"{scheme}://{netloc}{tail}"


def redact_urls(text: str) -> str:
    """`redact_url` for every URL in `text`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m[0]), text)


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
