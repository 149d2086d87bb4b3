"""A request target in absolute form (`POST http://host/v1/…`), which a server must accept
(RFC 9112 §3.2.2): routed and read by its path, as the origin form of the same request is."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.rawhttp import first_response

CHAT = b'{"model":"%s","messages":[{"role":"user","content":"absolute"}]}'


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url}, host_overrides={"api.openai.com": fake.url})


def post(
    gateway: RunningGateway, target: bytes, model: bytes = b"gpt-4o-mini"
) -> tuple[int, dict[str, object]]:
    body = CHAT % model
    data = (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer sk-absolute-0123456789\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
    ) % (target, gateway.server.port, len(body), body)
    response = first_response(gateway.server.port, data)
    assert response is not None
    answer: dict[str, object] = orjson.loads(response.body)
    return response.status, answer


@pytest.mark.parametrize(
    ("path", "model"),
    [
        (b"/v1/local/default/openai/chat/completions?trace=%41b", b"gpt-4o-mini"),
        (b"/v1/local/default/compat/chat/completions", b"openai/gpt-4o-mini"),
        (b"/api.openai.com/v1/chat/completions", b"gpt-4o-mini"),
    ],
)
@pytest.mark.parametrize("authority", [b"http://127.0.0.1:{port}", b"https://gateway.example", b"HTTP://x"])
def test_an_absolute_form_target_is_served_as_its_path(
    gateway: RunningGateway, fake: FakeOpenAI, path: bytes, model: bytes, authority: bytes
) -> None:
    origin = authority.replace(b"{port}", b"%d" % gateway.server.port)
    assert post(gateway, path, model)[0] == 200
    status, answer = post(gateway, origin + path, model)
    assert status == 200, answer
    first, second = fake.requests[-2:]
    assert (second.method, second.path, second.query_string) == (first.method, first.path, first.query_string)
    assert second.path == "/v1/chat/completions"
    records = gateway.wait_for_logs(2)
    assert {(r["gateway"], r["status"]) for r in records[:2]} == {("default", 200)}
