"""A policy compiled into scanners, one per direction and action, built once per gateway setting
and shared by its requests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from .custom import pattern_detector, word_detector
from .detector import NUMBER_CHARS, Detector, Span
from .injection import InjectionFinding, InjectionRules
from .placeholders import Vault, substitute
from .policy import CustomRule, GuardrailsPolicy
from .scanner import Scanner, builtin_detectors
from .view import prepare, view_of

Side = Literal["request", "response"]
Action = Literal["block", "redact", "flag"]
_NUMBER_CHARS = NUMBER_CHARS.decode()


def _applies(direction: str, side: Side) -> bool:
    return direction in (side, "both")


def _custom(rule: CustomRule) -> list[Detector]:
    detectors = []
    if rule.patterns:
        detectors.append(pattern_detector(rule.name, rule.patterns))
    if any(word.strip() for word in rule.words):
        detectors.append(word_detector(rule.name, rule.words, case_sensitive=rule.case_sensitive))
    return detectors


@dataclass(frozen=True, slots=True)
class Inspection:
    """What one text gave: the text to send on (redacted), the spans found per action, and the
    first blocking span if any (report its detector, never its text), then every blocking one."""

    text: str
    redacted: list[Span]
    flagged: list[Span]
    blocked: Span | None
    blocks: list[Span] = dataclasses.field(default_factory=list)


class Guard:
    def __init__(self, policy: GuardrailsPolicy) -> None:
        self.policy = policy
        self._scanners: dict[tuple[Side, Action], Scanner] = {}
        self._injection = InjectionRules() if policy.prompt_injection is not None else None
        prepare()  # the view's tables, once per process: here, not in a request
        for side in ("request", "response"):
            for action in ("block", "redact", "flag"):
                detectors: list[Detector] = []
                pii = policy.pii
                if pii is not None and pii.action == action and _applies(pii.direction, side):
                    detectors.extend(builtin_detectors(pii.entities))
                for rule in policy.custom:
                    if rule.action == action and _applies(rule.direction, side):
                        detectors.extend(_custom(rule))
                self._scanners[side, action] = Scanner(detectors)
        # A text spelled like a number (a JSON value's) shorter than this is found in by no rule.
        self._shortest_number = {
            side: min(self._scanners[side, action].shortest_number for action in ("block", "redact", "flag"))
            for side in ("request", "response")
        }

    def scanner(self, side: Side, action: Action) -> Scanner:
        return self._scanners[side, action]

    def inspect(self, text: str, side: Side, vault: Vault) -> Inspection:
        """Blocking rules first (a blocked request needs nothing else), then redaction, then
        flags on what remains."""
        if len(text) < self._shortest_number[side] and not text.strip(_NUMBER_CHARS):
            return Inspection(text, [], [], None)  # a JSON value's number, mostly: no scan
        view = view_of(text)
        blocking = self._scanners[side, "block"].find_in(view)
        if blocking:
            return Inspection(text, [], [], blocking[0], blocking)
        redacted = self._scanners[side, "redact"].find_in(view)
        if redacted:
            text = substitute(text, redacted, vault, restorable=side == "request")
            view = view_of(text)
        flagged = self._scanners[side, "flag"].find_in(view)
        return Inspection(text, redacted, flagged, None)

    def injection(self, text: str) -> InjectionFinding | None:
        """The prompt-injection rule a user's text trips (read in its view, as detectors read
        it), when the policy asks for the check."""
        return None if self._injection is None else self._injection.find(view_of(text).text)
