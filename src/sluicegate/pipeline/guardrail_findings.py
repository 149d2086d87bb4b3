"""What one request's guardrails found (`Findings`), and the 400s they answer with when a rule
blocks: a detector's (`blocked_by`) and a prompt injection's (`injection_found`), each carrying
Cloudflare's code so that its clients' checks work here too."""

from __future__ import annotations

from sluicegate.errors import GuardrailBlocked
from sluicegate.guardrails.detector import Span
from sluicegate.guardrails.guard import Guard, Side
from sluicegate.guardrails.injection import InjectionFinding

# Cloudflare AI Gateway's error codes and messages for a prompt and a response its guardrails
# blocked, which its docs tell clients to check for (`message.includes('2016')`,
# https://developers.cloudflare.com/ai-gateway/guardrails/set-up-guardrail/): carried in our error
# as `cloudflare_code` and at the end of its message (what an SDK's exception shows), so those
# checks work here too.
CLOUDFLARE_CODES: dict[Side, int] = {"request": 2016, "response": 2017}
_CLOUDFLARE_MESSAGES: dict[Side, str] = {
    "request": "Prompt blocked due to security configurations",
    "response": "Response blocked due to security configurations",
}


class Findings:
    """What one request's guardrails found, each noted once: `request:redact:email`."""

    def __init__(self, into: list[str]) -> None:
        self._into = into

    def note(self, side: Side, action: str, spans: list[Span]) -> None:
        for span in spans:
            self.add(f"{side}:{action}:{span.entity}")

    def add(self, finding: str) -> None:
        if finding not in self._into:
            self._into.append(finding)


def cloudflare_note(side: Side) -> str:
    return f" (Cloudflare's code {CLOUDFLARE_CODES[side]}: {_CLOUDFLARE_MESSAGES[side]})"


def blocked_by(span: Span, side: Side) -> GuardrailBlocked:
    what = "request" if side == "request" else "answer"
    return GuardrailBlocked(
        f"the gateway's guardrails blocked this {what}: it contains {span.entity} (detector "
        f"{span.detector}); remove it, or ask the gateway's owner about its guardrails setting"
        + cloudflare_note(side),
        detector=span.detector,
        entity=span.entity,
        direction=side,
        cloudflare_code=CLOUDFLARE_CODES[side],
    )


def injection_found(
    guard: Guard, found: InjectionFinding, findings: Findings, param: str | None = None
) -> None:
    """A prompt injection found in a user's text (`param`: where, when known): noted; raises where
    the rule's action blocks."""
    assert guard.policy.prompt_injection is not None
    finding = f"prompt_injection.{found.rule}"
    findings.add(f"request:{guard.policy.prompt_injection.action}:{finding}")
    if guard.policy.prompt_injection.action == "block":
        raise GuardrailBlocked(
            "the gateway's guardrails blocked this request: a user message reads as a "
            f"prompt injection ({found.rule})" + cloudflare_note("request"),
            detector=finding,
            entity="prompt_injection",
            direction="request",
            cloudflare_code=CLOUDFLARE_CODES["request"],
            param=param,
        )
