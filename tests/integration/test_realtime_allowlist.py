"""A token's model allow-list on realtime sessions: the model the gateway checks is the one the
upstream runs. A query naming the model twice (or Azure's `model` and `deployment` apart) is a 400,
a session naming none is refused to a model-limited token as an HTTP request is (403), and a
client event naming another model is not sent on. The sessions the token may open still open
through the official `openai` SDK's realtime clients, GA and beta; refusals are read with the
`websockets` client the SDK is built on (the SDK turns them into a generic error)."""

# ruff: noqa: F811  (the realtime fixture is test_realtime's)

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import RunningGateway
from tests.fakes.realtime_server import FakeRealtime
from tests.integration.test_realtime import SDK_SOCKET, kind, realtime, until, ws_url  # noqa: F401  (realtime: a fixture)

ALLOWED, DENIED = "gpt-4o-mini-realtime", "gpt-realtime"
STORED = "sk-stored-realtime-allowlist-0123456789"
AZURE = "azure-openai/my-resource/realtime?api-version=2024-10-01-preview"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime) -> RunningGateway:
    gateway = make_gateway(
        upstreams={"openai": realtime.base_url, "azure-openai": realtime.url},
        secret_key="master-key-for-tests",
    )
    for provider in ("openai", "azure-openai"):
        stored = gateway.http.put(
            f"/api/v1/accounts/local/gateways/default/provider-keys/{provider}", json={"key": STORED}
        )
        assert stored.status_code == 201, stored.text
    return gateway


@pytest.fixture
def limited(gateway: RunningGateway) -> dict[str, str]:
    """The headers of a token that may use `ALLOWED` only."""
    created = gateway.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "mini", "scopes": ["run"], "models": [ALLOWED]}
    )
    assert created.status_code == 201, created.text
    return {"cf-aig-authorization": f"Bearer {created.json()['token']}"}


def refused(gateway: RunningGateway, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """The status and JSON error of a handshake the gateway refuses."""
    with pytest.raises(InvalidStatus) as refusal:
        connect(ws_url(gateway, path), additional_headers=headers, open_timeout=10)
    response = refusal.value.response
    error: dict[str, str] = json.loads(response.body or b"")["error"]
    return response.status_code, error


REPEATED = {
    "the model twice": (f"openai/realtime?model={ALLOWED}&model={DENIED}", "model"),
    "at the provider's root": (f"openai?model={ALLOWED}&model={DENIED}", "model"),
    "a blank model first": (f"openai/realtime?model=&model={DENIED}", "model"),
    "the model percent-encoded": (f"openai/realtime?model={ALLOWED}&mod%65l={DENIED}", "model"),
    "Azure's deployment twice": (f"{AZURE}&deployment={ALLOWED}&deployment={DENIED}", "deployment"),
    "Azure's model and deployment apart": (f"{AZURE}&model={ALLOWED}&deployment={DENIED}", "deployment"),
}


@pytest.mark.parametrize("case", list(REPEATED))
def test_a_query_that_names_two_models_is_refused_whoever_sends_it(
    gateway: RunningGateway, realtime: FakeRealtime, limited: dict[str, str], case: str
) -> None:
    path, param = REPEATED[case]
    for headers in (limited, {}):
        status, error = refused(gateway, path, headers)
        assert status == 400, error
        assert error["param"] == param
        assert param in error["message"]
    assert realtime.handshakes == []


def test_a_model_limited_token_opens_sessions_of_its_model_only_and_none_that_names_no_model(
    gateway: RunningGateway, realtime: FakeRealtime, limited: dict[str, str]
) -> None:
    for path in ("openai/realtime", "openai", f"openai/realtime?deployment={ALLOWED}", AZURE):
        status, error = refused(gateway, path, limited)
        assert status == 403, (path, error)
        assert "names no model" in error["message"]
    assert refused(gateway, f"openai/realtime?model={DENIED}", limited)[0] == 403
    assert refused(gateway, f"{AZURE}&deployment={DENIED}", limited)[0] == 403
    assert realtime.handshakes == []
    # As over HTTP: the same token's request that names no model.
    answer = gateway.http.post(
        "/v1/local/default/openai/chat/completions", json={"messages": []}, headers=limited
    )
    assert answer.status_code == 403
    assert "names no model" in answer.json()["error"]["message"]
    # Azure's classic path runs the deployment the gateway checked (its model too, when the same).
    for path in (f"{AZURE}&deployment={ALLOWED}", f"{AZURE}&deployment={ALLOWED}&model={ALLOWED}"):
        with connect(ws_url(gateway, path), additional_headers=limited, open_timeout=10) as socket:
            assert kind(socket.recv(timeout=10)) == "session.created"
    assert [c.query["deployment"] for c in realtime.connections] == [ALLOWED, ALLOWED]


def test_the_sdks_realtime_clients_open_the_tokens_model_and_keep_to_it(
    gateway: RunningGateway, realtime: FakeRealtime, limited: dict[str, str]
) -> None:
    """A `session.update` naming another model is not sent on (the Realtime API refuses to change
    a session's model; the gateway does not count on it); naming the session's is, as is the
    rest of the session."""
    to_other = {
        "type": "session.update",
        "event_id": "evt_1",
        "session": {"type": "realtime", "model": DENIED},
    }
    to_same = {"type": "session.update", "session": {"type": "realtime", "model": ALLOWED}}
    with (
        openai.OpenAI(
            base_url=gateway.provider_url("openai"),
            # The beta client takes its scheme from here alone (wss:// otherwise).
            websocket_base_url=gateway.provider_url("openai").replace("http://", "ws://"),
            api_key="unused",
            default_headers={**limited, "Authorization": openai.Omit()},
            max_retries=0,
        ) as client,
        client.realtime.connect(model=ALLOWED, websocket_connection_options=SDK_SOCKET) as connection,
    ):
        until(connection.recv_bytes, "session.created")
        connection.send_raw(json.dumps(to_other))
        error = json.loads(connection.recv_bytes())
        connection.send_raw("{not json")
        unreadable = json.loads(connection.recv_bytes())
        connection.send_raw(json.dumps(to_same))
        until(connection.recv_bytes, "session.updated")
        with client.beta.realtime.connect(model=ALLOWED, websocket_connection_options=SDK_SOCKET) as beta:
            assert kind(beta.recv_bytes()) == "session.created"

    assert (error["type"], error["error"]["code"]) == ("error", "model_not_allowed")
    assert error["error"]["event_id"] == "evt_1"
    assert repr(DENIED) in error["error"]["message"]
    assert unreadable["error"]["code"] == "model_not_allowed"
    first, second = realtime.connections
    assert [json.loads(frame)["session"]["model"] for frame in first.received] == [ALLOWED]
    assert first.query["model"] == second.query["model"] == ALLOWED
    assert first.headers["Authorization"] == f"Bearer {STORED}"


def transcribing(model: str | None) -> dict[str, Any]:
    """A GA `session.update`'s session turning the input audio transcription on with `model`."""
    return {"type": "realtime", "audio": {"input": {"transcription": model and {"model": model}}}}


def test_a_model_limited_token_turns_on_only_the_transcription_models_it_may_use(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    """The input audio transcription runs a second model on the session's key (the stored one
    here): an event turning it on with a model the token may not use, or naming none, is not sent
    on, in the GA shape and the beta's; turning it off, or on with a model the token may use, is."""
    created = gateway.http.post(
        "/api/v1/accounts/local/tokens",
        json={"name": "voice", "scopes": ["run"], "models": [ALLOWED, "gpt-4o-mini-transcribe"]},
    )
    assert created.status_code == 201, created.text
    beta_shape = {"input_audio_transcription": {"model": "whisper-1"}}
    refused_events = [
        {"type": "session.update", "event_id": "evt_ga", "session": transcribing("whisper-1")},
        {"type": "session.update", "event_id": "evt_beta", "session": beta_shape},
        {"type": "transcription_session.update", "session": beta_shape},
        {"type": "session.update", "session": {"audio": {"input": {"transcription": {"language": "en"}}}}},
    ]
    audio = {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(10_000)).decode()}
    with (
        openai.OpenAI(
            base_url=gateway.provider_url("openai"),
            websocket_base_url=gateway.provider_url("openai").replace("http://", "ws://"),
            api_key="unused",
            default_headers={
                "cf-aig-authorization": f"Bearer {created.json()['token']}",
                "Authorization": openai.Omit(),
            },
            max_retries=0,
        ) as client,
        client.realtime.connect(model=ALLOWED, websocket_connection_options=SDK_SOCKET) as connection,
    ):
        until(connection.recv_bytes, "session.created")
        errors = []
        for event in refused_events:
            connection.send_raw(json.dumps(event))
            errors.append(json.loads(connection.recv_bytes()))
        connection.send_raw(json.dumps({"type": "session.update", "session": transcribing(None)}))
        until(connection.recv_bytes, "session.updated")
        connection.session.update(session=transcribing("gpt-4o-mini-transcribe"))  # type: ignore[arg-type]
        until(connection.recv_bytes, "session.updated")
        connection.send_raw(json.dumps(audio))
        connection.input_audio_buffer.commit()
        heard = until(connection.recv_bytes, "conversation.item.input_audio_transcription.completed")
        with client.beta.realtime.connect(model=ALLOWED, websocket_connection_options=SDK_SOCKET) as beta:
            until(beta.recv_bytes, "session.created")
            beta.session.update(session=beta_shape)  # type: ignore[arg-type]
            errors.append(json.loads(beta.recv_bytes()))

    for error in errors:
        assert (error["type"], error["error"]["code"]) == ("error", "model_not_allowed"), error
    assert [error["error"]["event_id"] for error in errors[:2]] == ["evt_ga", "evt_beta"]
    assert "'whisper-1'" in errors[0]["error"]["message"]
    assert "transcription" in errors[0]["error"]["message"]
    assert "names no model" in errors[3]["error"]["message"]
    first, second = realtime.connections
    sent = [json.loads(frame) for frame in first.received if isinstance(frame, str)]
    updates = [event["session"] for event in sent if event["type"].endswith("session.update")]
    assert updates == [transcribing(None), transcribing("gpt-4o-mini-transcribe")]  # none refused
    assert second.received == []
    assert first.headers["Authorization"] == f"Bearer {STORED}"
    assert json.loads(heard[-1])["usage"]["type"] == "tokens"
