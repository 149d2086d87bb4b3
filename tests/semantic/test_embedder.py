"""The packaged embedding model, for real: loaded once for the module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from sluicegate.embeddings import Embedder, LocalEmbedder


@pytest.fixture(scope="module")
def embedder() -> Iterator[LocalEmbedder]:
    model = LocalEmbedder()
    yield model
    asyncio.run(model.close())


async def test_vectors_are_unit_length_float32(embedder: LocalEmbedder) -> None:
    model: Embedder = embedder  # the local model satisfies the protocol
    vectors = await model.embed(["Hello there", "How do I reset my password?"])
    assert vectors.shape == (2, model.dimensions) == (2, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (await embedder.embed([])).shape == (0, 384)


async def test_a_paraphrase_is_closer_than_an_unrelated_request(embedder: LocalEmbedder) -> None:
    query, paraphrase, unrelated = await embedder.embed(
        [
            "How do I reset my password?",
            "What are the steps to reset my password?",
            "Write a haiku about autumn.",
        ]
    )
    assert query @ paraphrase > 0.8
    assert query @ unrelated < 0.3


async def test_concurrent_calls_share_a_batch_and_get_their_own_rows(embedder: LocalEmbedder) -> None:
    texts = [f"Question number {i}: what is {i} plus {i}?" for i in range(12)]
    alone = [(await embedder.embed([text]))[0] for text in texts[:3]]
    together = await asyncio.gather(*(embedder.embed([text]) for text in texts))
    assert all(rows.shape == (1, 384) for rows in together)
    for single, batched in zip(alone, together, strict=False):
        assert float(single @ batched[0]) > 0.9999


async def test_a_cancelled_caller_does_not_break_the_others(embedder: LocalEmbedder) -> None:
    doomed = asyncio.ensure_future(embedder.embed(["cancel me"]))
    kept = asyncio.ensure_future(embedder.embed(["keep me"]))
    await asyncio.sleep(0)
    doomed.cancel()
    assert (await kept).shape == (1, 384)


async def test_a_long_text_runs_apart_from_short_ones_with_the_same_vectors(embedder: LocalEmbedder) -> None:
    """A conversation's turns are embedded together; a long answer among short questions is not
    allowed to pad them all to its length, and no vector depends on what it was batched with."""
    from sluicegate.embeddings.local import _batches

    assert _batches([9, 14, 130], [4, 5, 6], 32) == [[4, 5], [6]]
    assert _batches([20, 30, 41], [0, 1, 2], 2) == [[0, 1], [2]]
    short, long = "What's their phone number?", " ".join(["Yu Garden serves Chinese food."] * 20)
    together = await embedder.embed([short, long, "I'm looking for Yu Garden."])
    alone = [(await embedder.embed([text]))[0] for text in (short, long, "I'm looking for Yu Garden.")]
    assert np.allclose(together, np.stack(alone), atol=1e-4)
