"""The shared base of the fakes: lifecycle, recording and the common behaviours hold for every
provider's fake, each in its own error shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.fakes.base import BEHAVIOR_HEADER, KEY_HEADER, FakeUpstream
from tests.fakes.cohere_server import FakeCohere
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.replicate_server import FakeReplicate


def post(url: str, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


CASES = [
    (FakeCohere, "/v2/chat", {"model": "command-r", "messages": [{"role": "user", "content": "hi"}]}),
    (FakeGemini, "/v1beta/models/gemini-2.5-pro:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}),
    (FakeReplicate, "/v1/models/meta/meta-llama-3-8b-instruct/predictions", {"input": {"prompt": "hi"}}),
]  # fmt: skip


@pytest.mark.parametrize(("make", "path", "body"), CASES)
def test_fail_n_then_ok_counts_per_key_in_each_provider_s_shape(
    make: type[FakeUpstream], path: str, body: dict[str, Any]
) -> None:
    with make().serve() as fake:
        behave = {BEHAVIOR_HEADER: "fail-1-then-ok"}
        first = post(fake.url + path, body, **behave, **{KEY_HEADER: "a"})
        again = post(fake.url + path, body, **behave, **{KEY_HEADER: "a"})
        other = post(fake.url + path, body, **behave, **{KEY_HEADER: "b"})
        assert first[0] == 500
        assert again[0] in (200, 201)  # Replicate answers a created prediction with 201
        assert other[0] == 500  # another key has its own count
        assert len(fake.requests) == 3
        fake.clear()
        assert fake.requests == []
        assert post(fake.url + path, body, **behave, **{KEY_HEADER: "a"})[0] == 500  # counts forgotten


@pytest.mark.parametrize(("make", "path", "body"), CASES)
def test_an_error_status_comes_in_the_provider_s_shape(
    make: type[FakeUpstream], path: str, body: dict[str, Any]
) -> None:
    with make().serve() as fake:
        status, error = post(fake.url + path, body, **{BEHAVIOR_HEADER: "error-503"})
        assert status == 503
        shapes = {
            FakeCohere: lambda e: set(e) == {"id", "message"},
            FakeGemini: lambda e: e["error"]["code"] == 503,
            FakeReplicate: lambda e: e["status"] == 503,
        }
        assert shapes[make](error)


def test_a_fake_that_is_not_serving_says_how_to_serve_it() -> None:
    with pytest.raises(RuntimeError, match=r"use `with FakeCohere\(\).serve\(\) as fake:`"):
        _ = FakeCohere().url
