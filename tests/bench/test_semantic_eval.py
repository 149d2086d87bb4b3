"""The semantic evaluation's public set: held-out wording stays out of tune, retyping is one slip,
and the levers only rewrite what they claim to."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import orjson
import pytest
from bench.semantic_eval import multiwoz
from bench.semantic_eval.levers import without_reply
from bench.semantic_eval.retype import typo

from sluicegate.semantic.spelling import one_slip


def test_the_split_puts_every_template_in_exactly_one_part() -> None:
    templates = [f"I am looking for a #RESTAURANT-INFORM-FOOD# place, number {n} ." for n in range(200)]
    tune, heldout = (multiwoz._mine(templates, part) for part in multiwoz.PARTS)
    assert not set(tune) & set(heldout)
    assert sorted(tune + heldout) == sorted(templates)
    assert 60 < len(tune) < 140  # a hash split, not everything on one side
    assert multiwoz._mine(templates, "tune") == tune  # the same on every run


def test_multiwoz_tokens_are_joined_back_as_typed() -> None:
    text = "I ' m looking for a place , but I ca n't find it . What 's the postcode ?"
    assert multiwoz.detokenize(text) == "I'm looking for a place, but I can't find it. What's the postcode?"


def test_a_typo_is_one_slip_in_one_word() -> None:
    rng = random.Random(7)
    text = "Can you help me find an expensive restaurant in the north?"
    for _ in range(50):
        retyped = typo(text, rng)
        changed = [(a, b) for a, b in zip(text.split(), retyped.split(), strict=True) if a != b]
        assert len(changed) == 1
        assert one_slip(*changed[0])


def test_only_a_reply_set_off_by_punctuation_is_dropped() -> None:
    assert without_reply("No, just the postcode.") == "Just the postcode."
    assert without_reply("Thanks. Yes, please give me the address") == "Please give me the address"
    assert without_reply("No smoking rooms?") == "No smoking rooms?"


def test_an_operators_own_pairs_are_one_held_out_set(tmp_path: Path) -> None:
    from bench.semantic_eval.__main__ import family, load_file

    body = {"model": "m", "messages": [{"role": "user", "content": "Where is my order?"}]}
    path = tmp_path / "mine.jsonl"
    path.write_bytes(orjson.dumps({"a": body, "b": body, "same": True}) + b"\n\n")
    (pair,) = load_file(path)
    assert (pair["part"], family(pair), pair["category"], pair["same"]) == ("heldout", "file", "pairs", True)


async def test_another_embedders_vectors_decide_the_cosine(tmp_path: Path) -> None:
    from bench.semantic_eval.__main__ import given_vectors
    from bench.semantic_eval.scoring import compare_turns, score, texts_to_embed

    from sluicegate.semantic.verify import load_verifier

    def asking(text: str) -> dict[str, object]:
        return {"model": "m", "messages": [{"role": "user", "content": text}]}

    pair = {"a": asking("Where is my order?"), "b": asking("Has my parcel shipped?"), "same": True}
    verifier = load_verifier(nli=False)
    texts = texts_to_embed(compare_turns([pair], verifier))
    assert texts == ["Has my parcel shipped?", "Where is my order?"]
    for second, expected in (([3.0, 0.0], 1.0), ([0.0, 0.5], 0.0)):  # scaled to unit length
        path = tmp_path / "vectors.npz"
        np.savez(path, texts=np.array(texts), vectors=np.array([[2.0, 0.0], second]))
        (scored,), latency = await score([pair], verifier, given=given_vectors(path))
        assert scored.cosine == pytest.approx(expected)
        assert "embed_one_ms_p50" not in latency  # not timed here
    with pytest.raises(ValueError, match="1 of 2 texts have no given vector"):
        await score([pair], verifier, given={texts[0]: np.ones(2, dtype=np.float32)})
