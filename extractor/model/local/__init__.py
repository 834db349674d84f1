"""The embedded local model: a registry of verified GGUF files and llama.cpp's server in-process.

path = resolve("local:qwen2.5-coder-1.5b")      # fetched and verified on first use
with LocalServer(path, alias="local:qwen2.5-coder-1.5b") as srv:
    client = openai.AsyncOpenAI(base_url=srv.base_url, api_key=srv.api_key)
"""

from extractor.model.local.errors import (
    BackendMissingError,
    FetchError,
    LocalModelError,
    ModelCorruptError,
    ModelNotFoundError,
    NotEnoughMemoryError,
    ServerStartError,
)
from extractor.model.local.fetch import Fetcher, cache_path, fetch_model, find_model, models_dir
from extractor.model.local.registry import (
    DEFAULT_MODEL,
    REGISTRY,
    TINY_MODEL,
    ModelEntry,
    get_entry,
)
from extractor.model.local.resolve import (
    LOCAL_PREFIX,
    check_gguf,
    is_local_spec,
    model_identity,
    resolve,
    spec_name,
)
from extractor.model.local.server import (
    LocalServer,
    available_memory,
    check_memory,
    default_threads,
    local_endpoint,
)

__all__ = [
    "DEFAULT_MODEL",
    "LOCAL_PREFIX",
    "REGISTRY",
    "TINY_MODEL",
    "BackendMissingError",
    "FetchError",
    "Fetcher",
    "LocalModelError",
    "LocalServer",
    "ModelCorruptError",
    "ModelEntry",
    "ModelNotFoundError",
    "NotEnoughMemoryError",
    "ServerStartError",
    "available_memory",
    "cache_path",
    "check_gguf",
    "check_memory",
    "default_threads",
    "fetch_model",
    "find_model",
    "get_entry",
    "is_local_spec",
    "local_endpoint",
    "model_identity",
    "models_dir",
    "resolve",
    "spec_name",
]
