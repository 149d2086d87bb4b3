"""The upstream's request id on a translated answer, under the header the client's SDK reads.

Providers tag every answer, errors included, with the id of the request, which their SDKs show
for support tickets (`completion._request_id`, `APIStatusError.request_id`), each under a header
of its own: OpenAI's `x-request-id`, read by the `openai` SDKs for chat and Responses alike
(https://platform.openai.com/docs/api-reference/debugging-requests), and Anthropic's
`request-id`, read by the `anthropic` SDKs (https://docs.anthropic.com/en/api/errors#request-id).
Gemini's API tags none (its answers hold a `responseId` in the body, which the chat answer's id
carries), so an answer from it has none to carry. A translated answer keeps the upstream's header,
which a client may read as it is, and gets the same id under the client's name too.
"""

from __future__ import annotations

from typing import Final

from multidict import CIMultiDict

OPENAI_REQUEST_ID: Final = "x-request-id"
ANTHROPIC_REQUEST_ID: Final = "request-id"
_UPSTREAM_NAMES: Final = (OPENAI_REQUEST_ID, ANTHROPIC_REQUEST_ID)


def carry_request_id(headers: CIMultiDict[str], name: str) -> None:
    """Adds the upstream's request id to an answer's `headers` under `name`, the client's header,
    when they hold it only under another provider's."""
    if name in headers:
        return
    for upstream in _UPSTREAM_NAMES:
        if (value := headers.get(upstream)) is not None:
            headers[name] = value
            return
