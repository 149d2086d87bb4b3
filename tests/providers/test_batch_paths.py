"""Which paths are the Batch API's, whose answers' usage is no request's own (openai_stored.py)."""

from __future__ import annotations

import pytest

from sluicegate.providers.openai_stored import of_batches


@pytest.mark.parametrize(
    "path",
    [
        "v1/batches",
        "v1/batches/batch_1",
        "v1/batches/batch_1/cancel",
        "my-resource/openai/batches",
        "my-resource/openai/batches/batch_1",
        "my-resource/openai/v1/batches/batch_1/cancel",
    ],
)
def test_the_batch_apis_own_paths(path: str) -> None:
    assert of_batches(path)


@pytest.mark.parametrize(
    "path",
    [
        # An Azure deployment may be named `batches`: its answers are its own (found in review).
        "my-resource/openai/deployments/batches/chat/completions",
        "my-resource/openai/deployments/batches/embeddings",
        "v1/chat/completions",
    ],
)
def test_other_paths_with_a_segment_named_batches(path: str) -> None:
    assert not of_batches(path)
