"""Expand the seeds (`seeds.json`, read by `seeds.py`) into the labelled pairs in `pairs.jsonl`
(deterministic).

    .venv/bin/python -m bench.semantic_eval.generate     # rewrites bench/semantic_eval/pairs.jsonl

Each line: `{"id", "category", "same", "split", "seed", "a", "b"}` where `a` is the stored request
and `b` the new one, both OpenAI chat-completions bodies; `same` is the label: would the answer to
`a` be a correct answer to `b`? `split` (`dev`/`test`, by seed) keeps a held-out half: the
verification rules and thresholds were tuned on `dev` only.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.semantic_eval.seeds import FAMILIES, FOLLOWUPS, FRAMES, STRUCTURAL_TEXTS, SYSTEM_PROMPTS

PAIRS = Path(__file__).with_name("pairs.jsonl")
MODEL = "gpt-4o-mini"

Pair = dict[str, Any]


def body(text: str, history: tuple[tuple[str, str], ...] = (), system: str | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [] if system is None else [{"role": "system", "content": system}]
    for user, assistant in history:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": text})
    return {"model": MODEL, "messages": messages}


def split_of(seed: str) -> str:
    return "dev" if hashlib.sha256(seed.encode()).digest()[0] % 2 == 0 else "test"


def near_repeat(text: str, rng: random.Random) -> str:
    """The same request typed again a little differently: case, punctuation, filler, one typo."""
    edits = rng.sample(range(6), 2)
    for edit in edits:
        if edit == 0:
            text = text.lower()
        elif edit == 1:
            text = text.rstrip("?.!") if text[-1] in "?.!" else text + "?"
        elif edit == 2:
            text = rng.choice(("Quick question: ", "Hey, ", "Hi! ", "Please help: ")) + text
        elif edit == 3:
            text = text + rng.choice((" Thanks!", " thx", " Thank you.", " :)"))
        elif edit == 4:
            words = text.split(" ")
            long = [i for i, word in enumerate(words) if len(word) >= 5 and word.isalpha()]
            if long:
                i = rng.choice(long)
                word = words[i]
                j = rng.randrange(1, len(word) - 2)
                words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
            text = " ".join(words)
        else:
            text = "  ".join(text.split(" ", 1)) + " "
    return text


def family_pairs(rng: random.Random) -> Iterator[Pair]:
    for n, family in enumerate(FAMILIES):
        seed = f"family-{n}"
        texts = (family.base, *family.para)
        for para in family.para:
            yield pair(seed, "paraphrase", True, body(family.base), body(para))
        yield pair(seed, "paraphrase", True, body(family.para[0]), body(family.para[-1]))
        for text in rng.sample(texts, 2):
            yield pair(seed, "near_repeat", True, body(text), body(near_repeat(text, rng)))
        for category, negatives in family.neg.items():
            for k, negative in enumerate(negatives):
                yield pair(seed, category, False, body(family.base), body(negative))
                if k == 0:  # also against a paraphrase: the stored request is rarely the base wording
                    yield pair(seed, category, False, body(rng.choice(family.para)), body(negative))


def frame_pairs(rng: random.Random) -> Iterator[Pair]:
    for frame in FRAMES:
        seed = f"frame-{frame.name}"
        for i, values in enumerate(frame.values):
            first, second, *_ = rng.sample(frame.templates, 2)
            yield pair(seed, "paraphrase", True, body(first.format(**values)), body(second.format(**values)))
            for template in frame.symmetric:
                yield pair(
                    seed, "paraphrase", True, body(first.format(**values)), body(template.format(**values))
                )
            other = frame.values[(i + 1) % len(frame.values)]
            yield pair(seed, frame.category, False, body(first.format(**values)), body(first.format(**other)))
            yield pair(
                seed, frame.category, False, body(first.format(**values)), body(second.format(**other))
            )
            for template in frame.swap:
                swapped = template.format(**values)
                yield pair(seed, frame.swap_category, False, body(first.format(**values)), body(swapped))


def followup_pairs() -> Iterator[Pair]:
    for n, followup in enumerate(FOLLOWUPS):
        seed = f"followup-{n}"
        history, same = followup.history, followup.same
        for text in same[1:]:
            yield pair(seed, "followup", True, body(same[0], history), body(text, history))
        for text in followup.other:
            yield pair(seed, "followup", False, body(same[0], history), body(text, history))
        for text in same[:2]:
            yield pair(seed, "followup", False, body(text, history), body(text, followup.other_history))
        yield pair(seed, "followup", False, body(same[1], history), body(same[0], followup.other_history))


def structural_pairs() -> Iterator[Pair]:
    for n, text in enumerate(STRUCTURAL_TEXTS):
        seed = f"structural-{n}"
        system, other_system = SYSTEM_PROMPTS[0], SYSTEM_PROMPTS[1 + n % (len(SYSTEM_PROMPTS) - 1)]
        yield pair(seed, "structural", False, body(text, system=system), body(text, system=other_system))
        yield pair(seed, "structural", False, body(text), {**body(text), "model": "gpt-4o"})
        tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
        yield pair(seed, "structural", False, body(text), {**body(text), "tools": tools})


def pair(seed: str, category: str, same: bool, a: dict[str, Any], b: dict[str, Any]) -> Pair:
    return {"category": category, "same": same, "split": split_of(seed), "seed": seed, "a": a, "b": b}


def generate() -> list[Pair]:
    rng = random.Random(20240611)
    pairs = [*family_pairs(rng), *frame_pairs(rng), *followup_pairs(), *structural_pairs()]
    seen: set[bytes] = set()
    unique: list[Pair] = []
    for item in pairs:
        key = orjson.dumps([item["a"], item["b"]], option=orjson.OPT_SORT_KEYS)
        if key not in seen and item["a"] != item["b"]:
            seen.add(key)
            unique.append({"id": f"p{len(unique):04d}", **item})
    return unique


def main() -> None:
    pairs = generate()
    PAIRS.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in pairs))
    counts: dict[tuple[str, bool], int] = {}
    for item in pairs:
        counts[item["category"], item["same"]] = counts.get((item["category"], item["same"]), 0) + 1
    print(f"{len(pairs)} pairs -> {PAIRS}")
    for (category, same), count in sorted(counts.items()):
        print(f"  {category:12s} {'same' if same else 'different':9s} {count}")


if __name__ == "__main__":
    main()
