"""Realtime's ephemeral keys (GA's `realtime/client_secrets`, the beta's `realtime/sessions` and
`realtime/transcription_sessions`) on the gateway's stored key: the key they mint lets the client
talk to OpenAI directly on the stored key's account, so a token limited by allow-lists or rules of
its own is refused one (403 `credentials_not_allowed`, pointing at the relayed WebSocket), before
anything goes upstream. A client on its own key, or an unlimited token, gets its key. Through the
official `openai` SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

STORED = "sk-stored-realtime-keys-0123456789"
OWN = "sk-own-realtime-keys-0123456789"
MODEL: Final = "gpt-realtime"
TRANSCRIBER: Final = "gpt-4o-mini-transcribe"
LIMITS: dict[str, dict[str, Any]] = {
    "rules": {"rules": [{"name": "intern", "limit": 5, "period": 86400, "unit": "cost"}]},
    "providers": {"providers": ["openai"]},
    "models": {"models": [MODEL, TRANSCRIBER]},
}


def ga(client: openai.OpenAI) -> Any:
    session = {
        "type": "realtime",
        "model": MODEL,
        "audio": {"input": {"transcription": {"model": TRANSCRIBER}}},
    }
    return client.realtime.client_secrets.create(session=session)  # type: ignore[arg-type]


def beta(client: openai.OpenAI) -> Any:
    return client.beta.realtime.sessions.create(model=MODEL, input_audio_transcription={"model": TRANSCRIBER})


def beta_transcription(client: openai.OpenAI) -> Any:
    transcription: Any = {"model": TRANSCRIBER}
    return client.beta.realtime.transcription_sessions.create(input_audio_transcription=transcription)


def accept_call(client: openai.OpenAI) -> Any:
    """A SIP call accepted (a session starts on it, billed to the key); it returns nothing."""
    return client.realtime.calls.accept("rtc_fake_0001", type="realtime", model=MODEL)


MINTS: dict[str, Callable[[openai.OpenAI], Any]] = {
    "client_secrets": ga,
    "sessions": beta,
    "transcription_sessions": beta_transcription,
}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, secret_key="master-key-for-tests")
    gateway.configure(authentication=True)
    stored = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/openai", json={"key": STORED}
    )
    assert stored.status_code == 201, stored.text
    return gateway


def token(gateway: RunningGateway, **allowance: Any) -> str:
    created = gateway.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"], **allowance}
    )
    assert created.status_code == 201, created.text
    secret: str = created.json()["token"]
    return secret


def client(gateway: RunningGateway, secret: str, own_key: str | None = None) -> openai.OpenAI:
    """The SDK with the gateway token as its key (the request runs on the stored key), or with its
    own key and the token in `cf-aig-authorization`."""
    if own_key is None:
        return openai.OpenAI(base_url=gateway.provider_url("openai"), api_key=secret, max_retries=0)
    headers = {"cf-aig-authorization": f"Bearer {secret}"}
    return openai.OpenAI(
        base_url=gateway.provider_url("openai"), api_key=own_key, default_headers=headers, max_retries=0
    )


@pytest.mark.parametrize("limit", ["rules", "providers"])
@pytest.mark.parametrize("mint", list(MINTS))
def test_a_limited_token_gets_an_ephemeral_key_on_its_own_key_only(
    gateway: RunningGateway, fake: FakeOpenAI, limit: str, mint: str
) -> None:
    limited = token(gateway, **LIMITS[limit])
    with client(gateway, limited) as sdk, pytest.raises(openai.PermissionDeniedError) as refusal:
        MINTS[mint](sdk)
    error = refusal.value.body
    assert isinstance(error, dict), error
    assert error["code"] == "credentials_not_allowed"
    assert f"its {limit}" in error["message"]
    assert "openai/realtime?model=" in error["message"]  # what to use instead: the relayed session
    assert error["relayed_session"] == "openai/realtime"
    assert fake.requests == []
    [record] = gateway.wait_for_logs(1)
    assert (record["method"], record["endpoint"], record["status"]) == ("POST", f"realtime/{mint}", 403)
    assert record["error"] == error["message"]
    # The same token on its own key, and an unlimited token on the stored key, get theirs.
    with client(gateway, limited, own_key=OWN) as own, client(gateway, token(gateway)) as unlimited:
        for sdk in (own, unlimited):
            minted = MINTS[mint](sdk)
            secret = minted.value if mint == "client_secrets" else minted.client_secret.value
            assert secret.startswith("ek_fake_")
    keys = [request.headers["Authorization"] for request in fake.requests]
    assert keys == [f"Bearer {OWN}", f"Bearer {STORED}"]


def test_a_model_limited_token_gets_no_session_key_for_a_model_it_may_use(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """The allow-list admits the beta's session (its model is listed); the stored key does not."""
    with (
        client(gateway, token(gateway, **LIMITS["models"])) as sdk,
        pytest.raises(openai.PermissionDeniedError) as refusal,
    ):
        beta(sdk)
    assert isinstance(refusal.value.body, dict)
    assert refusal.value.body["code"] == "credentials_not_allowed"
    assert "its models" in refusal.value.body["message"]
    assert fake.requests == []


def test_azures_client_secrets_on_the_stored_key_are_refused_to_a_limited_token(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """Azure's v1 API mints them as OpenAI does, below the resource's `/openai/v1/`."""
    stored = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/azure-openai", json={"key": STORED}
    )
    assert stored.status_code == 201, stored.text
    base_url = gateway.provider_url("azure-openai") + "/my-resource/openai/v1"
    secret = token(gateway, **LIMITS["rules"])
    sdk = openai.OpenAI(base_url=base_url, api_key=secret, max_retries=0)
    with sdk, pytest.raises(openai.PermissionDeniedError) as refusal:
        ga(sdk)
    assert isinstance(refusal.value.body, dict)
    assert refusal.value.body["code"] == "credentials_not_allowed"
    assert refusal.value.body["relayed_session"] == "azure-openai/my-resource/openai/v1/realtime"
    assert fake.requests == []


@pytest.mark.parametrize("mint", list(MINTS))
def test_a_model_limited_token_on_its_own_key_mints_keys_for_its_models_alone(
    gateway: RunningGateway, fake: FakeOpenAI, mint: str
) -> None:
    """GA's session names its model in `session`, a transcription session in its transcription
    settings: the allow-list reads them there, not as a request that names no model."""
    limited = token(gateway, **LIMITS["models"])
    with client(gateway, limited, own_key=OWN) as sdk:
        minted = MINTS[mint](sdk)
    secret = minted.value if mint == "client_secrets" else minted.client_secret.value
    assert secret.startswith("ek_fake_")
    other = token(gateway, models=["gpt-4o-mini"])
    with client(gateway, other, own_key=OWN) as sdk, pytest.raises(openai.PermissionDeniedError) as refusal:
        MINTS[mint](sdk)
    assert isinstance(refusal.value.body, dict)
    message = refusal.value.body["message"]
    assert "names no model" not in message
    assert (TRANSCRIBER if mint == "transcription_sessions" else MODEL) in message
    assert len(fake.requests) == 1


def test_a_limited_token_accepts_a_sip_call_on_its_own_key_only(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """Accepting a call starts a session OpenAI bills to the key, never relayed: on the stored key a
    limited token is refused (nothing goes upstream); on its own key, or unlimited, it goes on."""
    limited = token(gateway, **LIMITS["rules"])
    with client(gateway, limited) as sdk, pytest.raises(openai.PermissionDeniedError) as refusal:
        accept_call(sdk)
    assert isinstance(refusal.value.body, dict)
    assert refusal.value.body["code"] == "credentials_not_allowed"
    assert fake.requests == []
    with client(gateway, limited, own_key=OWN) as own, client(gateway, token(gateway)) as unlimited:
        for sdk in (own, unlimited):
            accept_call(sdk)
    keys = [request.headers["Authorization"] for request in fake.requests]
    assert keys == [f"Bearer {OWN}", f"Bearer {STORED}"]
