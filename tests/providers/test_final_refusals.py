"""Which refusals no retry mends, as each provider's adapter reads them (`refusal_is_final`)."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.providers import REGISTRY


def openai_error(type_: str, code: str | None) -> bytes:
    return orjson.dumps({"error": {"message": "…", "type": type_, "param": None, "code": code}})


QUOTA = openai_error("insufficient_quota", "insufficient_quota")


@pytest.mark.parametrize(
    ("status", "body", "final"),
    [
        (429, QUOTA, True),  # https://platform.openai.com/docs/guides/error-codes
        (429, openai_error("requests", "rate_limit_exceeded"), False),
        (429, b'{"error": {"message": "insufficient_quota is not this error"}}', False),
        (429, b"insufficient_quota", False),  # not JSON
        (429, b'["insufficient_quota"]', False),
        (500, QUOTA, False),  # only a 429 says it
    ],
)
def test_openai_reads_insufficient_quota_as_final(status: int, body: bytes, final: bool) -> None:
    for provider in ("openai", "azure-openai", "groq"):
        assert REGISTRY[provider].refusal_is_final(status, body) is final


def test_the_other_providers_retry_their_429s() -> None:
    gemini = orjson.dumps(
        {"error": {"code": 429, "message": "You exceeded your current quota", "status": "RESOURCE_EXHAUSTED"}}
    )
    for provider in ("anthropic", "google-ai-studio", "workers-ai", "cohere"):
        assert REGISTRY[provider].refusal_is_final(429, gemini) is False
        assert REGISTRY[provider].refusal_is_final(429, QUOTA) is False
