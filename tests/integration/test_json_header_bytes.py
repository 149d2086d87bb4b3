"""A header the gateway reads as JSON (`cf-aig-metadata`, `cf-aig-custom-cost`, Fastly's
`x-settings-overrides`) holding a byte that is not UTF-8 (a Latin-1 `é`, as Python's http.client
sends a str value) is a 400 naming the header, the byte and its offset, and saying to send UTF-8,
as the body's check does: not orjson's "str is not valid UTF-8: surrogates not allowed" at char 0."""

from __future__ import annotations

from collections.abc import Callable

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

KEY = (b"Authorization", b"Bearer sk-header-bytes-0123456789")
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "header bytes"}]}


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.mark.parametrize(
    ("name", "value", "at"),
    [
        ("cf-aig-metadata", b'{"user":"caf\xe9"}', 12),
        ("cf-aig-metadata", b'{"user":"caf\xc3\xa9","team":"\xff"}', 24),  # valid UTF-8 before it
        ("cf-aig-custom-cost", b'{"total_cost":0.5,"note":"\xe9"}', 26),
        ("x-settings-overrides", b'{"\xe9":true}', 2),
    ],
)
def test_a_json_header_with_a_byte_not_utf8_is_a_400_naming_it(
    gw: RunningGateway, fake: FakeOpenAI, name: str, value: bytes, at: int
) -> None:
    url = gw.provider_url("openai") + "/chat/completions"
    response = httpx.post(url, headers=[KEY, (name.encode(), value)], json=CHAT)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["header"] == name
    assert error["message"].startswith(
        f"{name} is not valid JSON at byte {at}: a byte that is not UTF-8 ({value[at]:02X}); send the"
        " header's JSON as UTF-8"
    )
    assert "surrogates" not in error["message"]
    assert fake.requests == []
    [record] = gw.wait_for_logs(1)
    assert record["status"] == 400
    assert record["error"] == error["message"]


def test_the_same_header_sent_again_in_utf8_is_read(gw: RunningGateway, fake: FakeOpenAI) -> None:
    url = gw.provider_url("openai") + "/chat/completions"
    latin1, utf8 = ('{"user":"café"}'.encode(encoding) for encoding in ("latin-1", "utf-8"))

    refused = httpx.post(url, headers=[KEY, (b"cf-aig-metadata", latin1)], json=CHAT)
    served = httpx.post(url, headers=[KEY, (b"cf-aig-metadata", utf8)], json=CHAT)

    assert refused.status_code == 400
    assert "at byte 12: a byte that is not UTF-8 (E9)" in refused.json()["error"]["message"]
    assert served.status_code == 200, served.text
    records = gw.wait_for_logs(2)
    assert [record["metadata"].get("user") for record in records] == ["café", None]
