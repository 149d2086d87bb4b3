"""Measuring a finished exchange: its usage (as the provider reported it, else counted) and cost.

`quick` answers on the event loop when that is cheap: usage read from a JSON body of modest size
or from a stream (read backwards, from its end) and a price already resolved. Anything else —
a large body, usage to count with the tokenizer, a first price lookup — is `measure`'s, on a
worker thread.
"""

from __future__ import annotations

import json
from dataclasses import replace

import orjson

from sluicegate.exchange import Exchange, Step
from sluicegate.outcome import NO_OUTCOME, Outcome
from sluicegate.outcome.pricing import Pricing, shown, unmeasured, unpriced
from sluicegate.providers.base import Provider, Route
from sluicegate.providers.openai import OpenAICompatible
from sluicegate.providers.stream_errors import opening_error
from sluicegate.types import CacheStatus, Usage
from sluicegate.usage.rates import Pricer
from sluicegate.usage.tokens import TokenCounter

# JSON bodies up to this size have their usage read on the event loop (at most tens of
# microseconds). A stream's usage is read from its end, whatever its size.
LOOP_BODY_BYTES = 16 * 1024
SWITCHING_PROTOCOLS = 101
_USAGE_KEYS = (b'"usage"', b'"usageMetadata"')
_DECODER = json.JSONDecoder()


class Meter:
    def __init__(self, tokens: TokenCounter, pricing: Pricing, loop_bytes: int = LOOP_BODY_BYTES) -> None:
        self._tokens = tokens
        self._pricing = pricing
        self._loop_bytes = loop_bytes

    def quick(self, exchange: Exchange) -> Outcome | None:
        """The outcome if working it out is cheap, else None (then call `measure` off the loop)."""
        step = exchange.step
        if step is None:
            return NO_OUTCOME
        too_big = not exchange.response.streamed and len(exchange.response.body) > self._loop_bytes
        if too_big or not self._pricing.ready(step, exchange.custom_cost):
            return None
        usage = _reported(exchange, step)
        if (usage is None or usage.input_unreported or _cut_short(exchange)) and _countable(exchange, step):
            return None
        answered = self._answered_model(exchange, step)
        if answered is not None and not self._pricing.ready(step, exchange.custom_cost, answered):
            return None
        return self._outcome(exchange, step, usage, answered)

    def measure(self, exchange: Exchange) -> Outcome:
        """The outcome, whatever it takes (tokenizing, loading prices): for a worker thread."""
        step = exchange.step
        if step is None:
            return NO_OUTCOME
        usage = _reported(exchange, step)
        if usage is None and _countable(exchange, step):
            # The provider reported nothing (e.g. a stream without include_usage): count it ourselves.
            tally = Usage(
                input_tokens=self._tokens.count_request_input(step.facts),
                output_tokens=self._output_tokens(exchange, step),
                estimated=True,
            )
            # Unless nothing ran: a request that names no model and holds no text (a batch's
            # creation) used no tokens, and 0 of them is no estimate.
            usage = tally if tally.total_tokens or step.facts.model is not None else None
        elif usage is not None and _countable(exchange, step):
            if usage.input_unreported:
                # Its output reported, its input not (a text generation's `details` without `prefill`).
                counted = self._tokens.count_request_input(step.facts)
                usage = replace(usage, input_tokens=counted, input_unreported=False, estimated=True)
            if _cut_short(exchange):
                # Cut short, the stream reported its input but not what it had written so far
                # (Anthropic's message_start says 1 output token, Gemini's first usageMetadata none).
                written = self._output_tokens(exchange, step)
                if written > usage.output_tokens:
                    usage = replace(usage, output_tokens=written, estimated=True)
        return self._outcome(exchange, step, usage, self._answered_model(exchange, step))

    def _output_tokens(self, exchange: Exchange, step: Step) -> int:
        reader, route = client_reader(exchange, step)
        text = reader.output_text(route, exchange.response.body, exchange.response.streamed)
        return self._tokens.count_text(text, step.facts.model)

    def _answered_model(self, exchange: Exchange, step: Step) -> str | None:
        """The model a successful answer names where that decides the price (`Provider.answer_model`)."""
        if not (200 <= exchange.response.status < 300 and exchange.response.body):
            return None
        reader, route = client_reader(exchange, step)
        return reader.answer_model(route, exchange.response.body, exchange.response.streamed)

    def _outcome(self, exchange: Exchange, step: Step, usage: Usage | None, answered: str | None) -> Outcome:
        if exchange.counted_by_gateway:
            # Counted by the gateway (pipeline/token_count.py): no model read it, nothing is billed.
            return Outcome(usage, None if usage is None else 0.0)
        gateway = exchange.gateway
        fallback = gateway.settings.fallback_price if gateway is not None else None
        custom_cost = exchange.custom_cost
        price = self._pricing.price(step, custom_cost, fallback, answered, usage)
        stated = _stated(step, usage)
        cost = _cost(price, usage) if stated is None else stated
        shown_cost = cost if custom_cost is None else _cost(shown(price, custom_cost), usage)
        no_price = (
            stated is None
            and _billed(exchange, usage)
            and (unpriced(exchange.request.method, step, price, answered, usage) or unmeasured(step, usage))
        )
        if exchange.cache.status is CacheStatus.HIT or exchange.cache.semantic_hit:
            # Answered by the gateway: nothing was billed; what it would have cost was saved (unknown
            # for an answer nothing prices: flagged unpriced, as its miss was).
            if usage is not None and exchange.cache.usage_counted:  # its own count, in the answer
                usage = replace(usage, estimated=True)
            return Outcome(usage, None if usage is None else 0.0, no_price, saved_usd=shown_cost)
        charged = None if custom_cost is None else cost  # what the rules count, beside what is shown
        apart = exchange.response.cost_apart_usd  # other models the answer ran: shown, charged as they ran
        if apart is not None and (shown_cost is not None or usage is None):
            charged, shown_cost = (cost or 0.0) if charged is None else charged, (shown_cost or 0.0) + apart
        return Outcome(
            usage,
            shown_cost,
            no_price,
            charged_usd=charged,
            model=answered if step.facts.model is None else None,
            cost_stated=stated is not None and custom_cost is None,
            cost_custom=custom_cost is not None and shown_cost is not None,
        )


def _stated(step: Step, usage: Usage | None) -> float | None:
    """The charge the provider's answer states (`Usage.cost_usd`), taken only from a provider known to
    state one there (`OpenAICompatible.reports_cost`: OpenRouter, Perplexity). Another server's
    `usage.cost` (a self-hosted proxy's own figure, perhaps in another unit) prices nothing."""
    if usage is None or usage.cost_usd is None:
        return None
    provider = step.provider
    return usage.cost_usd if isinstance(provider, OpenAICompatible) and provider.reports_cost else None


def _cost(price: Pricer | None, usage: Usage | None) -> float | None:
    return price.cost(usage) if price is not None and usage is not None else None


def _reported(exchange: Exchange, step: Step) -> Usage | None:
    body = exchange.response.body
    # 101: a realtime session, whose body is its summary, usage included (see endpoints/realtime.py).
    if (
        not (200 <= exchange.response.status < 300 or exchange.response.status == SWITCHING_PROTOCOLS)
        or not body
    ):
        return None
    if _rendered(exchange, step):
        # Rendered from a chat answer or chunks (pipeline/ingress.py): what chat reported, whole. The
        # rendering may not hold all of it (Anthropic's usage has no reasoning tokens) and holds
        # placeholder figures until chat reports usage (ingress/anthropic_stream.py's message_start),
        # which a stream cut short never does. A count the gateway made: the tokens it counted.
        return _seen(exchange) or step.facts.billed
    reader, route = client_reader(exchange, step)
    if exchange.response.streamed:
        seen = _seen(exchange)
        if seen is not None and seen.estimated:
            # A compat translation's usage chunk with the gateway's count (pipeline/compat_answers.py):
            # the figures the stream carries, an estimate.
            return seen
        # A compat translation's stream: its upstream's usage when the client did not ask for it.
        return reader.read_stream_usage(route, body) or seen or step.facts.billed
    usage = reader.read_usage(route, body)
    if usage is None and exchange.response.relayed_whole:  # only its end was kept
        usage = reader.read_usage(route, usage_tail_document(body))
    # Speech answers with audio, DALL·E with images and no usage: what the request asked for is billed.
    return usage or step.facts.billed


def usage_tail_document(end: bytes) -> bytes:
    """The usage object in the end of a JSON answer (`end`: all that was kept of it), as a document
    of its own, `{"usage": {...}}` (Gemini's `usageMetadata`), which `Provider.read_usage` reads; b""
    when there is none. OpenAI, Anthropic and Gemini put usage after the content, at the end."""
    for key in _USAGE_KEYS:
        at = end.rfind(key)  # (inside a string its quotes would be escaped)
        colon = end.find(b":", at + len(key)) if at >= 0 else -1
        if colon < 0:
            continue
        try:
            value, _ = _DECODER.raw_decode(end[colon + 1 :].decode("utf-8", "replace").lstrip())
        except ValueError:
            continue
        if isinstance(value, dict):
            return orjson.dumps({key.strip(b'"').decode(): value})
    return b""


def _seen(exchange: Exchange) -> Usage | None:
    """What the stages that rewrote the answer on its way saw reported (`Reply.reported_usage`)."""
    return next((usage for read in exchange.response.reported_usage if (usage := read()) is not None), None)


def _rendered(exchange: Exchange, step: Step) -> bool:
    """Whether the answer is rendered from chat's (pipeline/ingress.py): a plan through chat, or a
    route's target that renders its own (`Step.hub`, pipeline/compat_route.py) when it answered,
    not the caches (which stored its rendering: read as the client's API reads)."""
    if exchange.request.ingress is None:
        return False
    if exchange.plan.hub is not None:
        return True
    cached = exchange.cache.status is CacheStatus.HIT or exchange.cache.semantic_hit
    return step.hub is not None and not cached


def client_reader(exchange: Exchange, step: Step) -> tuple[Provider, Route]:
    """Whose shape the answer the client got is in, and the route it is read at: the provider's, or
    the one a compat translation answers in (`step.reader`), or the client API's own (`ingress`:
    rendered from chat, by the Ingress stage or by a route's target, `Step.hub`)."""
    if exchange.request.ingress is not None and (exchange.plan.hub is not None or step.hub is not None):
        native = exchange.request.ingress.native
        return native.provider, Route(exchange.request.account, native.path)
    return step.reader or step.provider, step.route


def _cut_short(exchange: Exchange) -> bool:
    """A stream that ended early: the client hung up, the upstream broke off or sent an error event."""
    return exchange.response.streamed and exchange.response.error is not None


def _billed(exchange: Exchange, usage: Usage | None) -> bool:
    """Whether the answer may have cost something: it reports usage, or it succeeded. A refusal or
    failure without usage (a 400, 429 or 500; a stream that opened with the provider's error) cost
    nothing: it is no request without a known price."""
    if usage is not None:
        return True
    status = exchange.response.status
    succeeded = 200 <= status < 300 or status == SWITCHING_PROTOCOLS
    return succeeded and not (_cut_short(exchange) and opening_error(exchange.response.body) is not None)


def _countable(exchange: Exchange, step: Step) -> bool:
    """Whether a usage the provider did not report can be counted: a successful answer to a request
    whose body we could read. A stream that opened with the provider's error (Anthropic's
    overloaded_error after a 200) is not one: nothing ran, and it is billed as that error's status is."""
    return (
        200 <= exchange.response.status < 300
        and bool(exchange.response.body)
        and step.facts.payload is not None
        and not (_cut_short(exchange) and opening_error(exchange.response.body) is not None)
    )
