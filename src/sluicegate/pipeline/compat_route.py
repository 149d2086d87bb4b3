"""A dynamic route's targets on the compat endpoint, each reached the way it can take the request.

A client of another API than chat (`IncomingRequest.ingress`: Anthropic's Messages, OpenAI's
Responses) reaches a target of the provider that speaks that API (`IngressFormat.native`) with its
request as it came, untranslated: what chat cannot say (Anthropic's `cache_control`, server tools,
a thinking budget) reaches it. The route's other targets get the chat request it means, translated
for their provider, and their answer is rendered back in the client's API by the step itself
(`rendered`: `Step.hub`), so every answer above the steps (the caches, the guardrails, the log) is
in the client's API, whichever target gave it, as a native answer is. A route with no target of
the client's API's provider goes through chat as a whole (`RequestPlan.hub`): its cached answers
serve a chat client as well. A token count goes to the provider only when the route starts there
(its other targets are left out); else the gateway counts (pipeline/token_count.py).

A target that cannot take the request (a field its translation cannot honour, a path its
provider does not serve) is left out of the plan and named in the log's attempts
(`RequestPlan.left_out`); the request is refused, with the first such target's 400, only when no
target can take it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sluicegate.errors import BadRequest, GatewayError
from sluicegate.exchange import HubRequest, Reply, RequestPlan, RetryPolicy, Step
from sluicegate.exchange_records import Attempt, RouteHolds
from sluicegate.ingress.base import IngressFormat
from sluicegate.pipeline.ingress import render
from sluicegate.pipeline.one_call import one_tool_call
from sluicegate.pipeline.response_items import Keeper
from sluicegate.providers.base import Provider
from sluicegate.routing.plan import RoutePlan, Target

# The step that sends the request to a provider's model: (provider, model, policy, own_key).
Build = Callable[[Provider, str, RetryPolicy, bool], Step]
Find = Callable[[Target], Awaitable[Provider]]  # a target's provider (a misconfigured route raises)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ClientAPI:
    """A request in another client API than chat: its format, how a target of its own provider
    gets it (`native`), and the chat request it means (`hub`; None when it cannot be said in chat),
    with what keeps the output items of a rendered answer (`keeper`: None, none are kept; the
    Ingress stage keeps them, as the client gets them)."""

    ingress: IngressFormat
    native: Build
    hub: HubRequest | None
    keeper: Keeper | None = None

    def takes(self, target: Target) -> bool:
        """Whether `target`'s provider speaks the client's API."""
        return target.provider == self.ingress.native.provider.name


class RouteSteps:
    """The steps of one request's route targets, each built once: `steps_of` for the route's limit
    nodes as it is planned, `plan` once it is. `chat` builds a target's step from the chat request
    (translated for its provider where it needs it), else says why there is none."""

    def __init__(
        self, find: Find, chat: Build | GatewayError, policy: RetryPolicy, client: ClientAPI | None
    ) -> None:
        self._find, self._chat, self._policy, self._client = find, chat, policy, client
        self._built: dict[tuple[str, bool], Step | GatewayError] = {}  # by target and whether native

    async def steps_of(self, targets: Sequence[Target], start: str | None) -> list[Step]:
        """The steps a limit node estimates: each target's as it would go (one that cannot take the
        request has none)."""
        steps = []
        for target in targets:
            step = await self._step(target, start, native=self._takes(target))
            if isinstance(step, Step):
                steps.append(step)
        return steps

    async def plan(self, body: bytes, route_plan: RoutePlan, held: RouteHolds | None) -> RequestPlan:
        """The plan of `route_plan`'s targets, those that cannot take the request left out (when
        none can, the first one's refusal is raised)."""
        client, start, targets = self._client, route_plan.start_provider, route_plan.targets
        native = [self._takes(target) for target in targets]
        # In the client's API as a whole (its own provider's targets as it came, the others rendered
        # from chat) when any target speaks it; a count, only when the first does.
        counts = client is not None and client.ingress.counts
        as_client = native[0] if counts else any(native)
        kept: list[tuple[Target, Step]] = []
        left_out: list[Attempt] = []
        refusals: list[GatewayError] = []
        for place, target in enumerate(targets):
            step: Step | GatewayError
            if as_client and counts and not native[place]:
                step = BadRequest(f"the route starts at {targets[0].provider}, which counts the tokens")
            else:
                step = await self._step(target, start, native=as_client and native[place])
                if as_client and not native[place] and isinstance(step, Step):
                    assert client is not None, "a client of another API"
                    step = rendered(step, client)
            if isinstance(step, Step):
                kept.append((target, step))
            else:
                refusals.append(step)
                left_out.append(_left_out(place, target, step))
        if not kept:
            raise refusals[0]
        if left_out:
            route_plan = dataclasses.replace(route_plan, targets=tuple(target for target, _ in kept))
        hub = client.hub if client is not None and not as_client else None
        steps = [step for _, step in kept]
        return RequestPlan(body, steps, route_plan, hub, route_holds=held, left_out=tuple(left_out))

    def _takes(self, target: Target) -> bool:
        return self._client is not None and self._client.takes(target)

    async def _step(self, target: Target, start: str | None, *, native: bool) -> Step | GatewayError:
        """`target`'s step: the client's request as it came (`native`), else the chat request's."""
        step = self._built.get((target.where, native))
        if step is not None:
            return step
        provider = await self._find(target)
        # A key the client sent is one provider's: the one the route starts at, whatever the
        # request (none when a split or an if chooses between providers). Another provider's
        # step goes without it, so with the gateway's stored key for its own provider, if any.
        own_key, policy = target.provider == start, target.retry(self._policy)
        chat = self._chat
        if native:
            assert self._client is not None, "only a client of another API has native targets"
            step = self._client.native(provider, target.model, policy, own_key)
        elif isinstance(chat, GatewayError):
            step = chat
        else:
            try:
                step = chat(provider, target.model, policy, own_key)
            except BadRequest as refused:  # a field its translation cannot honour, a path it lacks
                step = refused
        self._built[target.where, native] = step
        return step


def rendered(step: Step, client: ClientAPI) -> Step:
    """`step` (translated through chat) answering in the client's API: its chat answer (the
    provider's translated, if it was) cut to one tool call where the chat request asks, then
    rendered as the Ingress stage renders a whole plan's (pipeline/ingress.py): whole answers,
    streams and errors alike. The usage the chat answer reported goes with it, as its source's.
    Its items are kept above the guardrails, not here (pipeline/ingress.py)."""
    hub, ingress = client.hub, client.ingress
    assert hub is not None, "a step translated through chat"
    if ingress.item_references is not None:  # the rendering echoes whether its items are kept
        hub = dataclasses.replace(hub, asked={**hub.asked, "store": client.keeper is not None})
    translate, one_call, provider = step.answer, step.one_tool_call, step.provider.name

    def answer(reply: Reply) -> Reply:
        chat = translate(reply) if translate is not None else reply
        if one_call:
            chat = one_tool_call(chat)
        shown = render(ingress, hub, provider, chat)
        shown.reported_usage = _first(chat.reported_usage, shown.reported_usage)
        shown.unfinished = _first(chat.unfinished, shown.unfinished)
        return shown

    return dataclasses.replace(
        step, answer=answer, reader=ingress.native.provider, one_tool_call=False, hub=hub
    )


def _first(
    inner: Callable[[], _T | None] | None, outer: Callable[[], _T | None] | None
) -> Callable[[], _T | None] | None:
    """What the source nearest the upstream says, else the one after it (as the log reads the
    stages that rewrote an answer: `ResponseRecord.reported_usage`, the nearest first)."""
    if inner is None or outer is None:
        return inner or outer
    first, then = inner, outer

    def read() -> _T | None:
        said = first()
        return said if said is not None else then()

    return read


def _left_out(place: int, target: Target, error: GatewayError) -> Attempt:
    """The log's attempt for a target left out: at its place among the route's targets, no status."""
    where = f" ({target.where})" if target.where else ""
    return Attempt(
        place,
        target.provider,
        0,
        0.0,
        f"left out: {target.id}{where} cannot take this request: {error.message}",
    )
