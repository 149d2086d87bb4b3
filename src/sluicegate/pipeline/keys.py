"""Stored provider keys (and an account's custom providers' headers) on the request path.

`InjectKeys` (a stage) sets an account custom provider's stored headers, and hands each step that
came without a key of its own the provider's stored keys; `StepKeys` (used by `Attempts` for every
try) chooses one by weight, puts it in the step's headers, and learns from the answer as its
verdict says (pipeline/key_verdicts.py): a refusal that says the key is invalid, on an inference
route, disables it; another 401 or 403 there rests it for the request's target
(routing/keypool.py); a 429 cools it down (an hour when its provider reads it as the account out of
credit); and the try goes on with another key of the pool. Any other answer, a permission or scope
error among them, is the request's own. A pool of one key is used without reading its health: there
is nothing else to choose, and the plain single-key gateway pays no extra read.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from collections.abc import Sequence
from urllib.parse import parse_qs

from sluicegate.custom_providers import AccountProvider
from sluicegate.errors import (
    BadRequest,
    CredentialsNotAllowed,
    Forbidden,
    GatewayError,
    ProviderKeysCooling,
    ProviderKeysDisabled,
    ProviderKeysRefusedModel,
    ProviderKeysSealed,
)
from sluicegate.exchange import Exchange, Reply, Step
from sluicegate.keys import KeyDirectory
from sluicegate.pipeline import Handler
from sluicegate.pipeline.key_verdicts import Verdict
from sluicegate.pipeline.token_as_key import OWN_KEY_PROTOCOL, drop_tokens
from sluicegate.providers import CREDENTIAL_HEADERS
from sluicegate.routing.keypool import KeyPick, KeyPools, KeyRing, KeyStatus, RestTarget, shown_model
from sluicegate.routing.state import StateUnavailable

_log = logging.getLogger(__name__)
REFUSALS = frozenset({401, 403, 429})  # answers counted as refusals of the key (/metrics)
_MAX_SEEN = 10_000  # keys shown in /metrics; beyond, the oldest seen are forgotten


ALIAS_HEADER = "cf-aig-byok-alias"  # Cloudflare's: use the stored key of this name, not the pool


class InjectKeys:
    def __init__(self, keys: KeyDirectory) -> None:
        self._keys = keys

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        request = exchange.request
        keyless = keyless_steps(exchange.plan.steps, request.kind == "universal")
        if keyless:
            rings = await self._keys.rings(request.account, request.gateway_slug)
            alias = request.headers.get(ALIAS_HEADER)
            for step in keyless:
                ring = rings.get(step.provider.name)
                if alias is None:
                    step.keys = ring
                else:
                    step.keys = aliased(ring, alias.strip(), step.provider.name)
                    step.key_alias = alias.strip()  # its answers are that key's (cache_keys.py)
        if exchange.token is not None and (limits := exchange.token.limited_by()):
            refuse_unrelayed_sessions(exchange.plan.steps, limits)
        if exchange.token is None and exchange.from_page:  # the client's request, not a rebuilt one
            refuse_pages_on_stored_keys(exchange.plan.steps)
            gateway = exchange.gateway
            if gateway is not None and not gateway.settings.cache_per_key:
                raise Forbidden(
                    "a request from a web page (it sent Origin) needs a gateway token (cf-aig-authorization)"
                    " on a gateway whose cached answers are shared whatever key a request brings"
                    " (cache_per_key is off): a page could otherwise read answers it never paid for"
                )
        return await call_next(exchange)


def refuse_pages_on_stored_keys(steps: Sequence[Step]) -> None:
    """`Forbidden` when a request from a web page (it sent `Origin`) that no gateway token vouches
    for would run on credentials the gateway stores. A page on any site a user visits can reach a
    gateway the user's browser can (localhost, an intranet): a form's POST needs no preflight, and
    a WebSocket none at all, so without this any site could spend the stored keys."""
    for step in steps:
        if step.stored_secrets():
            raise Forbidden(
                "a request from a web page (it sent Origin) runs on the gateway's stored provider keys"
                " only with a gateway token (cf-aig-authorization); send one, or the provider key"
                " of your own",
                provider=step.provider.name,
            )


def refuse_unrelayed_sessions(steps: Sequence[Step], limits: Sequence[str]) -> None:
    """`CredentialsNotAllowed` when a token that `limits` (its allow-lists, its rules) asks, on the
    gateway's stored credentials, for a realtime session the provider serves the client directly or
    an ephemeral key for one (`RequestFacts.relayed_instead`): the client would then use the stored
    key's account outside the token's limits, the metering and the logs. Its own key is its own."""
    for step in steps:
        relay = step.facts.relayed_instead
        if relay is not None and step.stored_secrets():
            provider = step.provider.name
            raise CredentialsNotAllowed(
                f"this token is limited (its {', '.join(limits)}), and this request would give the client"
                f" a realtime session or an ephemeral key on the gateway's stored {provider} key, used with"
                f" {provider} directly: outside the token's limits, the gateway's metering and its logs."
                f" Open the session through the gateway's relayed realtime WebSocket instead, which is"
                f" checked and metered (…/{provider}/{relay}?model=…), or send a provider key of your own",
                provider=provider,
                relayed_session=f"{provider}/{relay}",
            )


def aliased(ring: KeyRing | None, alias: str, provider: str) -> KeyRing:
    """The ring of the one stored key named `alias` (`cf-aig-byok-alias`); a 400 naming the stored
    keys when there is none of that name: falling back to the others would use a key the client
    did not choose."""
    if ring is not None and alias in ring.sealed:
        raise sealed_keys(provider, ring, (alias,))
    if ring is not None and alias in ring.values:
        chosen = tuple(key for key in ring.keys if key.name == alias)
        return KeyRing(ring.pool, chosen, {alias: ring.values[alias]})
    names = sorted(ring.values) if ring is not None else []
    stored = f"its stored keys are {', '.join(map(repr, names))}" if names else "it has no stored key"
    raise BadRequest(
        f"{ALIAS_HEADER}: no stored {provider} key is named {alias!r}; {stored}",
        field=ALIAS_HEADER,
        aliases=names,
    )


def keyless_steps(steps: Sequence[Step], universal: bool) -> list[Step]:
    """The steps that bring no provider credential, once each account custom provider's stored
    headers are set on its steps (they are its configuration); raises `Forbidden` for a custom
    provider that may not be used (with the step's index on the `universal` endpoint)."""
    for index, step in enumerate(steps):
        drop_gateway_tokens(step)
        if isinstance(step.provider, AccountProvider):
            _set_custom_headers(step, step.provider, f"step {index}: " if universal else "")
    return [step for step in steps if not _brings_key(step)]


def on_own_keys(steps: Sequence[Step]) -> bool:
    """Whether every one of `steps` carries a provider key of the client's own and nothing from
    storage (a universal step's key in its own `headers`): what a web page may read the answer to,
    as when its key is in a header of the request (endpoints/cors.py). Read once the pipeline has
    answered: a step that went on a stored key has one in its headers, and its pool's keys too."""
    return bool(steps) and all(_brings_key(step) and not step.stored_secrets() for step in steps)


def drop_gateway_tokens(step: Step) -> None:
    """A gateway token sent where the provider's key goes (`auth.presented_secrets` read it) is taken
    out of the step: it must never reach a provider, and the step then runs on the stored key."""
    query = drop_tokens(step.headers, step.route.query)
    if query != step.route.query:
        step.route = dataclasses.replace(step.route, query=query)


def _brings_key(step: Step) -> bool:
    """Whether the step carries a provider credential of the client's: a credential header, the
    query parameter its provider takes a key in (Google's `?key=`), or a browser's key in its
    WebSocket subprotocols."""
    if any(h in step.headers for h in CREDENTIAL_HEADERS):
        return True
    param = step.provider.key_param
    if param is not None and f"{param}=" in step.route.query and parse_qs(step.route.query).get(param):
        return True
    protocols = step.headers.getall("Sec-WebSocket-Protocol", ())
    return any(p.strip().startswith(OWN_KEY_PROTOCOL) for line in protocols for p in line.split(","))


class StepKeys:
    """Chooses the key of each try and reports refused keys; keeps the last state this replica saw
    of each key for /metrics, and counts refusals."""

    def __init__(self, pools: KeyPools) -> None:
        self._pools = pools
        self.seen: dict[tuple[str, str], KeyStatus] = {}  # (pool, key name) -> status
        self.refusals: dict[tuple[str, str, int], int] = {}  # (pool, key name, status) -> count

    async def pick(self, ring: KeyRing, tried: Sequence[str], target: RestTarget | None = None) -> KeyPick:
        """A usable key other than `tried` (the keys this try already refused), by weight, and not
        resting for `target`."""
        if not ring.keys:
            return KeyPick(None)  # every stored key is sealed away (`KeyRing.sealed`)
        if len(ring.keys) == 1:
            only = ring.keys[0]
            return KeyPick(None if only.name in tried else only)
        try:
            return await self._pools.pick(ring.pool, ring.keys, tried, target)
        except StateUnavailable as exc:
            # Key health is advisory: without it, spread by weight over the keys not yet tried.
            _log.warning("key pool state unavailable, choosing without it: %s", exc)
            untried = [key for key in ring.keys if key.name not in tried]
            if not untried:
                return KeyPick(None)
            return KeyPick(random.choices(untried, [key.weight for key in untried])[0])

    @staticmethod
    def use(step: Step, ring: KeyRing, name: str) -> None:
        header = step.provider.key_header
        step.headers[header.name] = header.value(ring.values[name])
        step.key_name = name

    async def refused(
        self,
        ring: KeyRing,
        name: str,
        status: int,
        verdict: Verdict,
        retry_after: float | None = None,
        target: RestTarget | None = None,
        out_of_credit: bool = False,
    ) -> bool:
        """Whether the answer of `status` refused the key (then it is reported as `verdict` says, and
        the try moves on); `out_of_credit`: a final 429 (`Provider.refusal_is_final`), the key's
        account spent. A 401, 403 or 429 is counted whatever its verdict."""
        if status in REFUSALS:
            counted = (ring.pool, name, status)
            self.refusals[counted] = self.refusals.get(counted, 0) + 1
        if verdict is Verdict.PASS:
            return False
        if verdict is Verdict.REST and len(ring.keys) == 1:
            return True  # one key is used whatever its health (`pick`): its rest would go unread
        invalid = verdict is Verdict.DISABLE
        try:
            event = await self._pools.report(
                ring.pool, name, status, retry_after, target, out_of_credit, invalid
            )
        except StateUnavailable as exc:
            _log.warning("key pool state unavailable, key %s of %s not reported: %s", name, ring.pool, exc)
            return True
        if event is not None and event.status is KeyStatus.RESTING:  # for this target only: not `seen`
            _log.warning("provider key %s of %s: %s", name, ring.pool, event.reason)
            return True
        if event is not None:
            self._see(ring.pool, name, event.status)
            if event.status is KeyStatus.DISABLED:
                _log.warning("provider key %s of %s is disabled: %s", name, ring.pool, event.reason)
        return True

    def _see(self, pool: str, name: str, status: KeyStatus) -> None:
        seen = self.seen
        seen.pop((pool, name), None)
        seen[(pool, name)] = status
        if len(seen) > _MAX_SEEN:
            del seen[next(iter(seen))]


def no_usable_key(provider: str, ring: KeyRing, pick: KeyPick, model: str | None = None) -> GatewayError:
    """Every stored key of the provider is out: sealed under another master key (500), cooling
    (429, with when the first frees), refused for the request's target (403, resting for it) or
    disabled."""
    gateway = ring.pool.rsplit("/", 1)[0]
    if not ring.keys:
        return sealed_keys(provider, ring, ring.sealed)
    if pick.model_refused:
        wait = max(1, math.ceil(pick.retry_after or 1))
        return ProviderKeysRefusedModel(
            f"the upstream refused the stored {provider} keys of gateway {gateway} for model"
            f" {shown_model(model)} (401/403) and the others are out too; they are tried for it again in"
            f" {wait} s (a key's project may lack access to the model: grant it, or store a key that"
            " has it under a new name)",
            headers={"Retry-After": str(wait)},
            keys=[key.name for key in ring.keys],
            model=model,
        )
    if pick.retry_after is not None:
        wait = max(1, math.ceil(pick.retry_after))
        return ProviderKeysCooling(
            f"every stored {provider} key of gateway {gateway} is cooling down after the upstream"
            f" answered 429; the first is usable again in {wait} s",
            headers={"Retry-After": str(wait)},
            keys=[key.name for key in ring.keys],
        )
    return ProviderKeysDisabled(
        f"the upstream refused every stored {provider} key of gateway {gateway} as invalid, so each is"
        " disabled: store a working key, or enable one again with PATCH"
        f' …/provider-keys/{provider}/<name> {{"enabled": true}}',
        keys=[key.name for key in ring.keys],
    )


def sealed_keys(provider: str, ring: KeyRing, names: Sequence[str]) -> ProviderKeysSealed:
    """The stored keys `names` cannot be unsealed: the gateway's master key is not the one they were
    stored under. Sending the request without them would get the provider's 401 for a missing key,
    which points at the client."""
    gateway = ring.pool.rsplit("/", 1)[0]
    return ProviderKeysSealed(
        f"the stored {provider} key{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))} of"
        f" gateway {gateway} cannot be unsealed: {'they were' if len(names) > 1 else 'it was'} stored"
        " under another master key than this gateway's SLUICEGATE_SECRET_KEY (or it is unset). Run"
        " the gateway with the master key they were stored with, or store them again"
        f" (PUT …/provider-keys/{provider})",
        keys=list(names),
    )


def _set_custom_headers(step: Step, provider: AccountProvider, where: str) -> None:
    """The provider's stored headers replace any of the same name the request brought: they are
    its configuration. A provider that may not be used refuses the whole request, before any
    cache answers for it."""
    if provider.refusal is not None:
        raise Forbidden(where + provider.refusal, provider=provider.name)
    for name, value in provider.headers:
        step.headers[name] = value
        step.stored_headers += ((name, value),)
