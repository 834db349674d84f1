"""Problems with the embedded model, each worded as one line the CLI can print as is."""

from __future__ import annotations


class LocalModelError(Exception):
    """The embedded model cannot be found, fetched, verified or started."""


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
