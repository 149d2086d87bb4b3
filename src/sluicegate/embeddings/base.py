"""The `Embedder` contract: texts in, unit vectors out.

Implementations: `local.LocalEmbedder` (a model shipped in a package, run on onnxruntime) and, later,
one that calls a provider's embeddings endpoint. Vectors from different embedders live in different
spaces, so anything persisted with vectors records `name` and `dimensions` and refuses a mismatch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Identifies the vector space (model and its pre/post-processing)."""
        ...

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: list[str]) -> Vectors:
        """One row per text, shape `(len(texts), dimensions)`, float32, each row of L2 norm 1
        (so a dot product is the cosine similarity). Never blocks the event loop."""
        ...

    async def warm_up(self) -> None:
        """Make the first `embed` fast: load the model and run it once (off the event loop)."""
        ...

    async def close(self) -> None:
        """Release threads and model memory; `embed` must not be called afterwards."""
        ...
