"""Google's RetryInfo: how long a refused request is asked to wait, read from the error body."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.providers import REGISTRY


def google_error(delay: object) -> bytes:
    detail = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    return orjson.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [detail]}})


@pytest.mark.parametrize(
    ("body", "delay"),
    [
        (google_error("1s"), 1.0),
        (google_error("0.25s"), 0.25),
        (google_error("soon"), None),
        (google_error(3), None),
        (b'{"error": {"code": 429}}', None),
        (b"not json", None),
    ],
)
def test_google_says_how_long_to_wait_in_its_error_body(body: bytes, delay: float | None) -> None:
    for provider in ("google-ai-studio", "google-vertex-ai"):
        assert REGISTRY[provider].retry_delay(body) == delay


def test_other_providers_say_it_in_their_headers() -> None:
    assert REGISTRY["openai"].retry_delay(google_error("1s")) is None
    assert REGISTRY["anthropic"].retry_delay(google_error("1s")) is None
