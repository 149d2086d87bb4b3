"""Judging the nearest stored request against a new one, turn by turn.

The index ranks entries by the lowest cosine over their turns (`index`); the best one is then:

1. **aligned** (`align_turns`): a misspelt word of the new request takes the candidate's spelling
   (`spelling`), and the turns it changed are embedded again by the caller (`lowest_cosine`
   with their new vectors). Tried when the candidate is at least `ALIGN_FLOOR` similar and a
   turn has a word the vocabulary does not know (`misspelt`), since one typo can take a cosine
   from 0.95 to 0.6; above the threshold too, since the verifier reads a misspelt name as a name
   on one side only.
2. **verified** (`verify_turns`): every turn that is not byte-identical must pass `Verifier.check`
   against the candidate's turn at the same place (the last question against the stored last
   question, the turn before against the turn before, ...).

The gateway (`pipeline.semantic`) and the evaluation (`bench.semantic_eval`) both decide through
these functions. Pure and synchronous: the gateway runs them off the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sluicegate.semantic.verify import Verdict, Verifier

# Below this a candidate is not worth aligning: on the evaluation's tune part, no near-repeat
# with one typo fell under it, and unrelated requests mostly do.
ALIGN_FLOOR = 0.5
# An earlier turn is embedded by its head: an assistant's answer can run to hundreds of words, and
# embedding them costs more than the rest of the lookup; the verifier still reads the whole turn.
CONTEXT_WORDS = 48


def embedded(place: int, turn: str) -> str:
    """What is embedded of the turn at `place`: the last question (0) whole, an earlier turn its
    first `CONTEXT_WORDS` words."""
    return turn if place == 0 else _head(turn)


def _head(text: str) -> str:
    words = text.split()
    return text if len(words) <= CONTEXT_WORDS else " ".join(words[:CONTEXT_WORDS])


def misspelt(verifier: Verifier, turns: Sequence[str]) -> bool:
    return any(verifier.misspelt(turn) for turn in turns)


def align_turns(verifier: Verifier, turns: Sequence[str], stored: Sequence[str]) -> tuple[str, ...]:
    """Each new turn in the spelling of the stored turn at the same place."""
    return tuple(verifier.align(new, old) for new, old in zip(turns, stored, strict=True))


def lowest_cosine(vectors: np.ndarray[Any, Any], stored: np.ndarray[Any, Any]) -> float:
    """The similarity the index ranks by: the lowest cosine of two rows at the same place."""
    return float(np.min(np.sum(np.asarray(vectors) * np.asarray(stored), axis=1)))


def verify_turns(verifier: Verifier, turns: Sequence[str], stored: Sequence[str]) -> Verdict:
    """Accept only if every turn that differs passes the verifier. A refusal of an earlier turn
    says which (`earlier turn N`: the Nth turn before the last question)."""
    scores = []
    for place, (new, old) in enumerate(zip(turns, stored, strict=True)):
        if new == old:
            continue
        verdict = verifier.check(new, old)
        if not verdict.ok:
            reason = verdict.reason if place == 0 else f"earlier turn {place}: {verdict.reason}"
            return Verdict(False, verdict.score, reason)
        if verdict.score:
            scores.append(verdict.score)
    return Verdict(True, min(scores, default=0.0))
