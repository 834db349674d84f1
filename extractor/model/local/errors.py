"""Problems with the embedded model, each worded as one line the CLI can print as is: the
kinds of `extractor.errors.LocalModelError`, with its exit status (2)."""

from __future__ import annotations

from extractor.errors import LocalModelError as LocalModelError


class ModelNotFoundError(LocalModelError):
    pass


class ModelCorruptError(LocalModelError):
    pass


class FetchError(LocalModelError):
    pass


class NotEnoughMemoryError(LocalModelError):
    pass


class BackendMissingError(LocalModelError):
    pass


class ServerStartError(LocalModelError):
    pass
