"""Text embeddings for the semantic cache: the `Embedder` contract and the packaged local model."""

from sluicegate.embeddings.base import Embedder
from sluicegate.embeddings.local import LocalEmbedder

__all__ = ["Embedder", "LocalEmbedder"]
