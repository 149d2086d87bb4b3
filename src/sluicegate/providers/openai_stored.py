"""OpenAI-shaped answers the provider keeps and a client reads again by id (`GET responses/{id}`,
`GET chat/completions/{id}`, under any prefix: Azure's `{resource}/openai/v1/...`): such a read
reports the usage the answer was made with, billed when it was made."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from sluicegate.types import Usage

NOT_DONE = frozenset({"queued", "in_progress"})  # a Responses answer's status while it runs
_STORED_ANSWER = re.compile(r"(?:^|/)(?:responses|chat/completions)/[^/]+$")


def reads_stored_answer(path: str) -> bool:
    """Whether a request at `path` reads a stored answer by its id."""
    return _STORED_ANSWER.search(path) is not None


def read_again(document: dict[str, Any], usage: Usage) -> Usage:
    """The usage a read of a stored answer counts: none, as it was counted when the answer was made;
    a background response's (`background: true`, made while the client polls) is counted by the
    first read that finds it finished, once (`Usage.job`)."""
    answer_id = document.get("id")
    if document.get("background") is True and isinstance(answer_id, str) and answer_id:
        return replace(usage, job=answer_id)
    return Usage()
