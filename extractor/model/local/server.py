"""The embedded endpoint: llama.cpp's own OpenAI-compatible HTTP server, inside this process.

The rest of the tool talks to it exactly as to any remote endpoint, through `base_url`; the
only local knowledge is here. It listens on 127.0.0.1 at a port the OS picks. llama.cpp
allows every browser origin by default (CORS `*`), which would let any web page open while a
run goes read this server's answers; here no origin is allowed, and a key can be required.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from extractor.model.local.errors import BackendMissingError, NotEnoughMemoryError, ServerStartError
from extractor.model.local.resolve import LOCAL_PREFIX, check_gguf, resolve

# Per slot: system prompt + few-shot examples (~3k tokens) + a long abstract (~1k) + the
# answer (~1k) fit with room to spare; both registry models were trained on >= 8k.
DEFAULT_CTX = 8192
# A slot's KV cache is kept between requests; reuse of chunks this long also survives a
# shifted prefix, so the static instructions are read once per slot, not once per paper.
DEFAULT_CACHE_REUSE = 256
# Beyond the weights: KV cache for the slots, compute buffers, the Python side.
MEMORY_MARGIN = 1 << 30

# llama.cpp's CPU build runs its threads as an OpenMP team whose idle members spin. With as
# many threads as cores, any other busy process (the pipeline itself, a browser) deschedules
# one of them and the rest spin at every barrier: measured on 2 cores, generation fell from
# 16 to 4 tokens/s. Passive waiting costs nothing measurable when the machine is idle and
# keeps ~9 tokens/s under load. libgomp reads this once, when xllamacpp is first imported,
# so it is set here, before any import of it; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def default_threads() -> int:
    """EXTRACTOR_LOCAL_THREADS, else the CPUs this process may use (taskset, containers)."""
    env = os.environ.get("EXTRACTOR_LOCAL_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes the kernel could hand out now without swapping, or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(
    model_path: Path, *, margin: int = MEMORY_MARGIN, available: int | None = None
) -> None:
    need = model_path.stat().st_size + margin
    have = available_memory() if available is None else available
    if have is not None and have < need:
        raise NotEnoughMemoryError(
            f"not enough memory for {model_path.name}: about {need / 1e9:.1f} GB needed, "
            f"{have / 1e9:.1f} GB available (close other programs, or use a smaller model)"
        )


def _import_backend() -> Any:
    try:
        import xllamacpp
    except ImportError as e:
        raise BackendMissingError(
            f"the embedded local model needs the xllamacpp package ({e}); install it with "
            "`pip install xllamacpp`, or point --base-url at an OpenAI-compatible server"
        ) from e
    return xllamacpp


class LocalServer:
    """`with LocalServer(path) as srv:`, then any OpenAI client on `srv.base_url`, `srv.api_key`.

    `ctx_size` is per parallel slot (llama.cpp divides its context among the slots);
    `api_key`, when given, is required of every request.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        alias: str | None = None,
        ctx_size: int = DEFAULT_CTX,
        threads: int | None = None,
        parallel: int = 1,
        cache_reuse: int = DEFAULT_CACHE_REUSE,
        batch_size: int = 512,
        api_key: str | None = None,
        startup_timeout: float = 120.0,
        memory_check: bool = True,
        verbose: bool = False,
    ) -> None:
        self.model_path = Path(model_path)
        self.alias = alias or self.model_path.stem
        self.ctx_size = ctx_size  # per slot
        self.threads = threads or default_threads()
        self.parallel = max(parallel, 1)
        self.cache_reuse = cache_reuse
        self.batch_size = batch_size
        self.require_key = api_key
        # What clients send: the required key, else any non-empty string (the OpenAI SDK
        # refuses an empty one, llama.cpp ignores it).
        self.api_key = api_key or "sk-local"
        self.startup_timeout = startup_timeout
        self.memory_check = memory_check
        self.verbose = verbose
        self._server: Any = None
        self._address: str | None = None

    @classmethod
    def from_spec(cls, spec: str, **kwargs: Any) -> LocalServer:
        """`local:NAME` or `local:/path.gguf`, fetched and verified first when needed."""
        path = resolve(spec)
        kwargs.setdefault("alias", spec if spec.startswith(LOCAL_PREFIX) else LOCAL_PREFIX + spec)
        return cls(path, **kwargs)

    @property
    def base_url(self) -> str:
        if self._address is None:
            raise ServerStartError("the local model server is not running")
        return f"{self._address}/v1"

    @property
    def running(self) -> bool:
        return self._server is not None

    def _params(self, xllamacpp: Any) -> Any:
        p = xllamacpp.CommonParams()
        p.model.path = str(self.model_path)
        p.model_alias = {self.alias}
        p.hostnames = ["127.0.0.1"]
        p.port = 0  # the OS picks a free one
        p.api_keys = [self.require_key] if self.require_key else []
        p.cors_origins = ""
        p.n_parallel = self.parallel
        p.n_ctx = self.ctx_size * self.parallel  # llama.cpp splits n_ctx across slots
        p.n_batch = max(self.batch_size, 512)
        p.n_ubatch = self.batch_size
        p.cpuparams.n_threads = self.threads
        p.cpuparams_batch.n_threads = self.threads
        p.cont_batching = True
        p.cache_prompt = True
        p.n_cache_reuse = self.cache_reuse
        # Host-RAM copies of old prompts; the slots' own KV cache already holds the shared
        # prefix, so a small budget is enough and leaves memory to the rest of the machine.
        p.cache_ram_mib = 512
        p.ui = False
        p.verbosity = 3 if self.verbose else 0
        return p

    def start(self) -> LocalServer:
        if self._server is not None:
            return self
        xllamacpp = _import_backend()
        check_gguf(self.model_path)
        if self.memory_check:
            check_memory(self.model_path)
        deadline = time.monotonic() + self.startup_timeout
        try:
            # Loads the model and returns once llama.cpp is listening; a bad file or
            # parameter surfaces as a bare RuntimeError, worded better below.
            try:
                self._server = xllamacpp.Server(self._params(xllamacpp))
            except RuntimeError as e:
                raise ServerStartError(
                    f"llama.cpp could not load {self.model_path} ({e}); "
                    "is it a complete GGUF file for a model llama.cpp supports?"
                ) from e
            self._address = str(self._server.listening_address).rstrip("/")
            self._wait_healthy(deadline)
        except BaseException:
            # Ctrl-C while loading included: never leave a server behind.
            self.stop()
            raise
        return self

    def _wait_healthy(self, deadline: float) -> None:
        url = f"{self._address}/health"
        last = "no answer"
        # trust_env=False: an HTTP(S)_PROXY in the environment must not see local traffic.
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while True:
                try:
                    resp = client.get(url)
                    if resp.status_code == 200:
                        return
                    last = f"HTTP {resp.status_code}"  # 503 while the model is loading
                except httpx.HTTPError as e:
                    last = type(e).__name__
                if time.monotonic() >= deadline:
                    raise ServerStartError(
                        f"the local model server at {self._address} was not ready after "
                        f"{self.startup_timeout:.0f} s (last: {last})"
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        server, self._server, self._address = self._server, None, None
        # Dropping the last reference runs llama.cpp's ~Server: it stops the HTTP listener,
        # joins its threads and frees the model.
        del server

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._address or "stopped"
        return f"LocalServer({self.model_path.name}, {state})"


@contextmanager
def local_endpoint(spec: str, **kwargs: Any) -> Iterator[str]:
    """The base URL of an embedded server for `local:NAME` or `local:/path.gguf`, for the run.

    The model is fetched and verified first when needed; keyword arguments go to
    `LocalServer` (e.g. `parallel`, `ctx_size`, `threads`). Any API key works with it.
    """
    with LocalServer.from_spec(spec, **kwargs) as server:
        yield server.base_url
