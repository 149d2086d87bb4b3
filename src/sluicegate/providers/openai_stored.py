"""OpenAI-shaped answers the provider keeps and a client reads again by id (`GET responses/{id}`,
`GET chat/completions/{id}`, under any prefix: Azure's `{resource}/openai/v1/...`): such a read
reports the usage the answer was made with, billed when it was made. And batches (`batches`,
`batches/{id}`, `batches/{id}/cancel`): a batch object reports the usage of its requests, which the
provider bills as they run, at its batch discount, and which no request to the gateway made."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import orjson

from sluicegate.types import Usage

NOT_DONE = frozenset({"queued", "in_progress"})  # a Responses answer's status while it runs
_STORED_ANSWER = re.compile(r"(?:^|/)(?:responses|chat/completions)/[^/]+$")
# https://platform.openai.com/docs/api-reference/batch (Azure: `openai/batches`, `openai/v1/batches`)
# The Batch API's own paths (`batches`, `batches/{id}`, `batches/{id}/cancel`; Azure's under its
# resource: `{resource}/openai/batches`), not a deployment named `batches` (`deployments/batches/…`).
_BATCHES = re.compile(r"(?:^|(?<!deployments)/)batches(?:/[^/]+(?:/cancel)?)?/?$")


def reads_stored_answer(path: str) -> bool:
    """Whether a request at `path` reads a stored answer by its id."""
    return _STORED_ANSWER.search(path) is not None


def of_batches(path: str) -> bool:
    """Whether a request at `path` creates, lists, reads or cancels batches: its answer's `usage` is
    the batch's requests', not this request's (a poll of a batch would count it again each time)."""
    return _BATCHES.search(path) is not None


def stored_model(body: bytes) -> str | None:
    """The model a stored answer read again names (`model`), which prices the usage a read counts:
    the request, a GET, names none."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = document.get("model") if isinstance(document, dict) else None
    return model if isinstance(model, str) and model else None


def read_again(document: dict[str, Any], usage: Usage) -> Usage:
    """The usage a read of a stored answer counts: none, as it was counted when the answer was made;
    a background response's (`background: true`, made while the client polls) is counted by the
    first read that finds it finished, once (`Usage.job`)."""
    answer_id = document.get("id")
    if document.get("background") is True and isinstance(answer_id, str) and answer_id:
        return replace(usage, job=answer_id)
    return Usage()
