"""Which texts of a request the prompt-injection rules read (the user's latest turns:
guardrails/injection_turns.py), their parts joined as the model reads them (guardrails/runs.py),
and where each finding is, as a `param` (`messages[2].content`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from sluicegate.exchange import IncomingRequest, RequestPlan
from sluicegate.guardrails.bodies import texts
from sluicegate.guardrails.guard import Guard
from sluicegate.guardrails.injection import InjectionFinding
from sluicegate.guardrails.injection_turns import latest_user_texts, path_of
from sluicegate.guardrails.runs import JOINS, Run, runs
from sluicegate.pipeline.guardrail_bodies import client_format
from sluicegate.pipeline.guardrail_findings import Findings, injection_found
from sluicegate.providers.texts import TextFormat


def check_injection(
    guard: Guard, request: IncomingRequest, plan: RequestPlan, place: int, findings: Findings
) -> None:
    """Prompt injection in step `place`'s latest user turns: noted, and a block names the turn in
    `param`."""
    for found, where in injection_findings(guard, request, plan, place):
        injection_found(guard, found, findings, where)


def injection_findings(
    guard: Guard, request: IncomingRequest, plan: RequestPlan, place: int
) -> Iterator[tuple[InjectionFinding, str | None]]:
    """What the rules find in the user's latest turns of step `place`, with the turn's place in the
    client's body. A compat request is read once, in the client's own body (its places are the
    client's, whatever the upstream's format); a universal step's are within its `query`."""
    if guard.policy.prompt_injection is None or (request.kind == "compat" and place > 0):
        return
    step = plan.steps[place]
    body: Any = step.facts.payload
    text_format: TextFormat | None = None
    if request.kind == "compat":
        text_format = client_format(request)
        try:
            body = orjson.loads(plan.body)
        except orjson.JSONDecodeError:
            return
    elif isinstance(body, dict):
        text_format = step.provider.text_format(step.route, body)
    if text_format is None or not isinstance(body, dict):
        return
    latest = latest_user_texts(texts(text_format, body))
    found_any = False
    for run in (runs(latest, body) if len(latest) > 1 else None) or [Run([text]) for text in latest]:
        found, where = _found(guard, run, body)
        if found is None:
            continue
        found_any = True
        yield found, _placed(request, plan, place, where)
    # an attack split over user turns with no answer between ("Ignore all" + "previous
    # instructions."): the model reads them together, so they are read once more as one (where:
    # the first of them, its content)
    joined = " ".join(text.value for text in latest) if not found_any and len(latest) > 1 else ""
    if joined and (found := guard.injection(joined)) is not None:
        where = path_of(body, latest[0])
        where = where[: -len(".text")].rsplit("[", 1)[0] if where and where.endswith("].text") else where
        yield found, _placed(request, plan, place, where)


def _placed(request: IncomingRequest, plan: RequestPlan, place: int, where: str | None) -> str | None:
    """`where` in the client's body: a universal step's is within its `query`."""
    if where is not None and request.kind == "universal":
        return f"[{place}].query.{where}" if plan.body.lstrip()[:1] == b"[" else f"query.{where}"
    return where


def _found(guard: Guard, run: Run, body: Any) -> tuple[InjectionFinding | None, str | None]:
    """The rules' finding in a run's texts and where: in one text (that text's place), else in a
    message's text parts read together, each of `JOINS` (the message's content)."""
    for text in run.texts:
        if (found := guard.injection(text.value)) is not None:
            return found, path_of(body, text)
    if run.parts is None:
        return None, None
    values = [text.value for text in run.texts]
    found = next((found for join in JOINS if (found := guard.injection(join.join(values)))), None)
    where = path_of(body, run.texts[0]) if found is not None else None
    return found, where.rsplit("[", 1)[0] if where is not None else None  # the content, not a part
