"""The semantic cache's two models, the embedder and the verifier's NLI network, loaded and run
once in the background, so that no request waits ~1.5 s for them.

`warm_up` starts that (at start when a gateway uses the semantic cache, when one turns it on, or
on the first request that asks for it; on a replica also when it reads a gateway that has it on,
turned on through another replica, or when another replica's stored question arrives); until the
models are `ready` the semantic cache skips its lookups rather than wait. A warm-up begun at start
makes `/healthz` answer 503 (`starting`); one begun later keeps it at 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Literal

from sluicegate.embeddings.base import Embedder
from sluicegate.gateway import Gateway
from sluicegate.semantic.verify import Verifier

State = Literal["cold", "warming", "ready", "failed"]
_log = logging.getLogger(__name__)


class Models:
    def __init__(self, embedder: Embedder, verifier: Callable[[], Verifier]) -> None:
        """`verifier` builds the verifier (loading its NLI model); it is called once, on a thread."""
        self.embedder = embedder
        self._verifier = verifier
        self._task: asyncio.Task[None] | None = None
        self._loaded: Verifier | None = None  # once warmed up: no thread hop per lookup
        self._state: State = "cold"
        self._at_start = False

    @property
    def state(self) -> State:
        """cold (never asked for), warming, ready, or failed (the models did not load)."""
        return self._state

    @property
    def ready(self) -> bool:
        return self._state == "ready"

    @property
    def starting(self) -> bool:
        """True while the warm-up begun at start runs: the gateway is not ready to serve yet."""
        return self._at_start and self._state == "warming"

    def warm_up(self, at_start: bool = False) -> None:
        """Load both models and run each once, in the background; nothing if that has begun."""
        if self._task is None:
            self._at_start = at_start
            self._state = "warming"
            self._task = asyncio.create_task(self._warm(), name="semantic-warm-up")

    def gateway_saved(self, gateway: Gateway) -> None:
        """Told of a gateway created or changed through this replica, or read from the store (a
        change made through another): one that has the semantic cache on warms the models up."""
        if gateway.settings.semantic_cache_enabled:
            self.warm_up()

    async def loaded(self) -> bool:
        """Wait for the warm-up (begun if need be); whether the models are ready."""
        self.warm_up()
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.ready

    async def verifier(self) -> Verifier:
        if self._loaded is not None:
            return self._loaded
        return await asyncio.to_thread(self._verifier)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()  # a model still loading on its thread finishes there, unused
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.embedder.close()

    async def _warm(self) -> None:
        started = time.perf_counter()

        def verifier() -> None:
            loaded = self._verifier()
            loaded.warm_up()
            self._loaded = loaded

        try:
            await asyncio.gather(self.embedder.warm_up(), asyncio.to_thread(verifier))
        except Exception:  # onnxruntime's own errors derive from Exception: all end in "failed",
            self._state = "failed"  # never in a warm-up that holds /healthz at 503 for ever
            _log.exception("semantic cache disabled: its models did not load")
            return
        self._state = "ready"
        _log.info("semantic cache models ready in %.2f s", time.perf_counter() - started)
