"""Which Cloudflare account a Workers AI step runs in.

Workers AI runs a model at `/client/v4/accounts/{account_id}/ai/...`. On Cloudflare the gateway's
account is that account; here it is the URL's account segment (`local` on a fresh install), which
Cloudflare refuses. The `workers_ai_account_id` setting names the Cloudflare account instead; without
it, a step bound for api.cloudflare.com whose account segment is not a Cloudflare account id is a 400
saying what to set, before anything goes upstream. Another upstream (a proxy, a test server) gets
the segment as it is: what it makes of it is its own business.

A path in the form of Cloudflare's API names its account (`accounts/{id}/ai/run/{model}`, what the
`cloudflare` SDK sends: providers/workers_ai/account_paths.py). It goes where Cloudflare AI Gateway's
form of the same request goes, in the account the path names: the setting's or the URL's, when
either names one, must be that account (else a 400 naming both, sent nowhere: a model run in
another account than the client named would bill that account). Account ids grant nothing without
a token, so the refusal names them, as Cloudflare's own URLs do.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from sluicegate.errors import BadRequest, GatewayError, NotFound
from sluicegate.exchange import Step
from sluicegate.providers.workers_ai.account_paths import AccountPath, account_path
from sluicegate.providers.workers_ai.adapter import WorkersAI

CLOUDFLARE_ACCOUNT_ID = re.compile(r"[0-9a-fA-F]{32}")
CLOUDFLARE_API_HOST = "api.cloudflare.com"
SETTING = "workers_ai_account_id"
SETTING_ENV = "SLUICEGATE_WORKERS_AI_ACCOUNT_ID"
_ADAPTER = WorkersAI()


@dataclass(frozen=True, slots=True)
class WorkersAIAccount:
    """`account_id`: the setting ("" when unset); `base_url`: where Workers AI steps go."""

    account_id: str = ""
    base_url: str = _ADAPTER.default_base_url

    @classmethod
    def configured(cls, account_id: str, upstreams: Mapping[str, str]) -> WorkersAIAccount:
        """From the settings: `workers_ai_account_id` and the `upstreams` table."""
        return cls(account_id, upstreams.get(_ADAPTER.name, _ADAPTER.default_base_url))

    def place(self, planned: Step, index: int | None = None) -> None:
        """Point a Workers AI step at its Cloudflare account; raise `BadRequest` (naming the step's
        `index` when the plan has several) when that account would be one Cloudflare cannot have."""
        if not isinstance(planned.provider, WorkersAI):
            return
        if (named := account_path(planned.route.path)) is not None:
            self._take_path(planned, named, index)
        if self.account_id:
            planned.route = dataclasses.replace(planned.route, account=self.account_id)
            return
        segment = planned.route.account
        base_url = planned.base_url or self.base_url
        if CLOUDFLARE_ACCOUNT_ID.fullmatch(segment) or urlsplit(base_url).hostname != CLOUDFLARE_API_HOST:
            return
        where = "" if index is None else f"step {index}: "
        problem = BadRequest(
            f"{where}Workers AI runs models in a Cloudflare account, and the account segment"
            f" {segment!r} of this URL is not a Cloudflare account id (32 hex characters): Cloudflare"
            f" would refuse {base_url.rstrip('/')}/client/v4/accounts/{segment}/ai/…. Set {SETTING_ENV}"
            f" (setting {SETTING}) to your Cloudflare account id, or send the request under an"
            " account named after it (/v1/<account id>/<gateway>/workers-ai/…)",
            setting=SETTING,
        )
        if index is not None:
            problem.details["step"] = index
        raise problem

    def _take_path(self, planned: Step, named: AccountPath, index: int | None) -> None:
        """Send a path of Cloudflare's API's form as Cloudflare AI Gateway's form of it, in the
        account it names, which must be the setting's or the URL's when either names one."""
        where = "" if index is None else f"step {index}: "
        sent = planned.route.path
        if not named.path:
            raise _of_step(
                NotFound(
                    f"{where}the Workers AI endpoint runs models (accounts/{{account_id}}/ai/run/{{model}},"
                    " or {model}) and serves the OpenAI-compatible API (accounts/{account_id}/ai/v1/…, or"
                    f" v1/…); {sent} is another of Cloudflare's APIs, which it does not serve"
                ),
                index,
            )
        if not CLOUDFLARE_ACCOUNT_ID.fullmatch(named.account):
            raise _of_step(
                BadRequest(
                    f"{where}{sent} names the account {named.account!r}, which is not a Cloudflare"
                    " account id (32 hex characters)"
                ),
                index,
            )
        segment = planned.route.account
        if self.account_id:
            expected, source = self.account_id, f"{SETTING_ENV} (setting {SETTING})"
        elif CLOUDFLARE_ACCOUNT_ID.fullmatch(segment):
            expected, source = segment, "the account segment of this URL"
        else:
            expected, source = named.account, ""
        if expected.lower() != named.account.lower():
            problem = BadRequest(
                f"{where}{sent} runs the model in the Cloudflare account {named.account}, but this"
                f" gateway runs Workers AI in {expected}, which {source} names: send that account's id,"
                " or the path without accounts/{account_id}/ai/ (…/workers-ai/{model},"
                " …/workers-ai/v1/…)"
            )
            if self.account_id:
                problem.details["setting"] = SETTING
            raise _of_step(problem, index)
        planned.route = dataclasses.replace(planned.route, account=expected, path=named.path)
        planned.facts = planned.provider.read_request(planned.route, planned.body)  # its model is the path


def _of_step(problem: GatewayError, index: int | None) -> GatewayError:
    """`problem`, naming the universal step it refuses (`index`) when the plan has several."""
    if index is not None:
        problem.details["step"] = index
    return problem
