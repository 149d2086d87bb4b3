"""Which Cloudflare account a Workers AI step runs in.

Workers AI runs a model at `/client/v4/accounts/{account_id}/ai/...`. On Cloudflare the gateway's
account is that account; here it is the URL's account segment (`local` on a fresh install), which
Cloudflare refuses. The `workers_ai_account_id` setting names the Cloudflare account instead; without
it, a step bound for api.cloudflare.com whose account segment is not a Cloudflare account id is a 400
saying what to set, before anything goes upstream. Another upstream (a proxy, a test server) gets
the segment as it is: what it makes of it is its own business.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from sluicegate.errors import BadRequest
from sluicegate.exchange import Step
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
