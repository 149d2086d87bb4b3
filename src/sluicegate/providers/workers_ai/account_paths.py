"""Workers AI paths in the form of Cloudflare's API, which name their account.

Cloudflare's SDKs take the API root as their base URL (`https://api.cloudflare.com/client/v4`) and
add the rest themselves: the `cloudflare` SDK's `ai.run(model, account_id=…)`, pointed at
`…/workers-ai`, sends `…/workers-ai/accounts/{account_id}/ai/run/{model}` (the model as
`@cf%2Fmeta%2F…`); a client given Cloudflare's OpenAI-compatible base URL
(`…/client/v4/accounts/{account_id}/ai/v1`) with the gateway in place of the API root sends
`…/accounts/{account_id}/ai/v1/…`. Cloudflare AI Gateway's own forms, `…/workers-ai/{model}` and
`…/workers-ai/v1/…`, leave the account to the gateway; the Plan stage decides which account runs
(pipeline/workers_ai_account.py) and sends these forms where those go.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNTS = "accounts/"
# What Cloudflare's API serves below `accounts/{id}/ai/` that Cloudflare AI Gateway's forms reach,
# and what stands for it there: a model's run is its name alone, the OpenAI-compatible API `v1/…`.
# https://developers.cloudflare.com/api/resources/ai/methods/run/
SERVED = (("ai/run/", ""), ("ai/v1/", "v1/"))


@dataclass(frozen=True, slots=True)
class AccountPath:
    """`account`: the account the path names, as sent; `path`: the route path in Cloudflare AI
    Gateway's form (`@cf%2Fmeta%2F…`, `v1/chat/completions`), "" for another API of Cloudflare's
    (`accounts/{id}/ai/models/search`), which the gateway does not serve."""

    account: str
    path: str


def account_path(path: str) -> AccountPath | None:
    """The account and route path of `path` in the form of Cloudflare's API, None for any other."""
    if not path.startswith(ACCOUNTS):  # a model's name starts `@cf/` or `@hf/`
        return None
    account, _, rest = path[len(ACCOUNTS) :].partition("/")
    for start, form in SERVED:
        if rest.startswith(start) and len(rest) > len(start):
            return AccountPath(account, form + rest[len(start) :])
    return AccountPath(account, "")
