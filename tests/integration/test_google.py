"""Google AI Studio and Vertex AI endpoints, driven by the official google-genai SDK, against the fake
Gemini upstream on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx2 as httpx
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import THOUGHT_TOKENS, FakeGemini

API_KEY = "AIzaSy-fake-0123456789abcdefghijklmnop"
ACCESS_TOKEN = "ya29.fake-access-token"
PROMPT = "what is the capital of France"
REQUEST = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
STUDIO_PATH = "v1beta/models/gemini-2.0-flash"
VERTEX_PREFIX = "v1/projects/acme/locations/us-central1/publishers/google/models"
BEARER = {"Authorization": f"Bearer {ACCESS_TOKEN}"}


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=API_KEY, access_token=ACCESS_TOKEN).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeGemini) -> RunningGateway:
    return make_gateway(upstreams={"google-ai-studio": fake.base_url, "google-vertex-ai": fake.base_url})


def studio(base_url: str) -> genai.Client:
    # api_version as in Google's own REST examples; the SDK's default is v1.
    return genai.Client(
        api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta")
    )


def vertex(base_url: str, headers: dict[str, str] | None = None) -> genai.Client:
    # A token that never expires, so the SDK never tries to refresh it over the network.
    credentials = Credentials(token=ACCESS_TOKEN)  # type: ignore[no-untyped-call]
    return genai.Client(
        vertexai=True,
        project="acme",
        location="us-central1",
        credentials=credentials,
        http_options=types.HttpOptions(base_url=base_url, headers=headers),
    )


def post(url: str, headers: dict[str, str], body: object = REQUEST) -> httpx.Response:
    with httpx.Client(timeout=10) as client:
        return client.post(url, json=body, headers=headers)


def test_generate_content_is_byte_identical_and_its_usage_is_logged(
    gateway: RunningGateway, fake: FakeGemini
) -> None:
    key = {"x-goog-api-key": API_KEY}
    direct = post(f"{fake.base_url}/{STUDIO_PATH}:generateContent", key)
    fake.clear()  # response ids count calls: start again so both answers are the same call number
    proxied = post(f"{gateway.provider_url('google-ai-studio')}/{STUDIO_PATH}:generateContent", key)
    assert proxied.status_code == direct.status_code == 200
    assert proxied.content == direct.content
    forwarded = fake.requests[-1]
    assert forwarded.path == f"/{STUDIO_PATH}:generateContent"
    assert forwarded.header("x-goog-api-key") == API_KEY
    assert forwarded.json == REQUEST

    with studio(gateway.provider_url("google-ai-studio")) as client:
        answer = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert answer.text == f"echo: {PROMPT}"
    assert answer.usage_metadata is not None
    meta = answer.usage_metadata
    assert meta.thoughts_token_count == THOUGHT_TOKENS
    record = next(r for r in gateway.wait_for_logs(2) if r["model"] == "gemini-2.5-flash")
    assert (record["tokens_in"], record["tokens_out"]) == (
        meta.prompt_token_count,
        (meta.candidates_token_count or 0) + THOUGHT_TOKENS,
    )
    assert record["reasoning_tokens"] == THOUGHT_TOKENS
    assert record["usage_estimated"] is False
    assert record["stream"] is False
    assert record["cost_usd"] > 0


def test_sse_stream_is_byte_identical_and_its_usage_is_logged(
    gateway: RunningGateway, fake: FakeGemini
) -> None:
    def raw_stream(base_url: str) -> bytes:
        url = f"{base_url}/{STUDIO_PATH}:streamGenerateContent"
        with (
            httpx.Client(timeout=10) as client,
            client.stream("POST", url, params={"alt": "sse", "key": API_KEY}, json=REQUEST) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            return b"".join(response.iter_bytes())

    direct = raw_stream(fake.base_url)
    fake.clear()
    proxied = raw_stream(gateway.provider_url("google-ai-studio"))
    assert proxied == direct
    assert proxied.count(b"\r\n\r\n") == len(f"echo: {PROMPT}".split())

    with studio(gateway.provider_url("google-ai-studio")) as client:
        chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT))
    assert "".join(chunk.text or "" for chunk in chunks) == f"echo: {PROMPT}"
    final = chunks[-1].usage_metadata
    assert final is not None
    records = gateway.wait_for_logs(2)
    assert all(r["stream"] is True and r["usage_estimated"] is False for r in records)
    assert (records[0]["tokens_in"], records[0]["tokens_out"]) == (
        final.prompt_token_count,
        final.candidates_token_count,
    )


def test_json_array_stream_without_alt_sse_is_relayed_and_counted(
    gateway: RunningGateway, fake: FakeGemini
) -> None:
    url = f"{gateway.provider_url('google-ai-studio')}/{STUDIO_PATH}:streamGenerateContent"
    response = post(url, {"x-goog-api-key": API_KEY})
    assert response.headers["content-type"].startswith("application/json")
    chunks = response.json()
    assert len(chunks) == len(f"echo: {PROMPT}".split())
    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is True
    assert record["tokens_out"] == chunks[-1]["usageMetadata"]["candidatesTokenCount"]
    assert record["usage_estimated"] is False


def test_key_in_the_query_reaches_the_upstream_and_never_the_log(
    gateway: RunningGateway, fake: FakeGemini
) -> None:
    url = f"{gateway.provider_url('google-ai-studio')}/{STUDIO_PATH}:generateContent?key={API_KEY}"
    assert post(url, {}).status_code == 200
    assert fake.requests[-1].query_string == f"key={API_KEY}"
    record = gateway.wait_for_logs(1)[0]
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}").text
    assert API_KEY not in detail


@pytest.mark.parametrize(
    ("model", "error", "status"),
    [
        ("rate-limited", errors.ClientError, "RESOURCE_EXHAUSTED"),
        ("error-404", errors.ClientError, "NOT_FOUND"),
        ("error-503", errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_upstream_errors_pass_through_unchanged(
    gateway: RunningGateway, fake: FakeGemini, model: str, error: type[errors.APIError], status: str
) -> None:
    with studio(fake.base_url) as client, pytest.raises(error) as direct:
        client.models.generate_content(model=model, contents=PROMPT)
    fake.clear()
    with studio(gateway.provider_url("google-ai-studio")) as client, pytest.raises(error) as proxied:
        client.models.generate_content(model=model, contents=PROMPT)
    assert proxied.value.code == direct.value.code
    assert proxied.value.status == status
    assert proxied.value.response.content == direct.value.response.content
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == direct.value.code
    assert record["error"] == direct.value.response.text  # type: ignore[union-attr]


def test_stream_without_usage_is_counted_with_the_tokenizer(gateway: RunningGateway) -> None:
    with studio(gateway.provider_url("google-ai-studio")) as client:
        chunks = list(client.models.generate_content_stream(model="no-usage", contents=PROMPT))
    assert all(chunk.usage_metadata is None for chunk in chunks)
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    # "echo: what is the capital of France" is 8 tokens in o200k_base; the prompt 6.
    assert (record["tokens_in"], record["tokens_out"]) == (6, 8)


def test_vertex_plain_and_streamed_through_the_sdk(gateway: RunningGateway, fake: FakeGemini) -> None:
    with vertex(gateway.provider_url("google-vertex-ai")) as client:
        answer = client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
        chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT))
    assert answer.text == "".join(chunk.text or "" for chunk in chunks) == f"echo: {PROMPT}"
    paths = [r.path for r in fake.requests]
    prefix = "/v1beta1/projects/acme/locations/us-central1/publishers/google/models/gemini-2.0-flash"
    assert paths == [f"{prefix}:generateContent", f"{prefix}:streamGenerateContent"]
    assert {r.header("authorization") for r in fake.requests} == {f"Bearer {ACCESS_TOKEN}"}

    assert answer.usage_metadata is not None
    records = gateway.wait_for_logs(2)
    assert {r["provider"] for r in records} == {"google-vertex-ai"}
    assert {(r["stream"], r["tokens_out"], r["usage_estimated"]) for r in records} == {
        (False, answer.usage_metadata.candidates_token_count, False),
        (True, answer.usage_metadata.candidates_token_count, False),
    }


@pytest.mark.parametrize(("model", "status"), [("gemini-2.0-flash", 200), ("rate-limited", 429)])
def test_vertex_answers_and_errors_are_byte_identical(
    gateway: RunningGateway, fake: FakeGemini, model: str, status: int
) -> None:
    path = f"{VERTEX_PREFIX}/{model}:generateContent"
    direct = post(f"{fake.base_url}/{path}", BEARER)
    fake.clear()
    proxied = post(f"{gateway.provider_url('google-vertex-ai')}/{path}", BEARER)
    assert proxied.status_code == direct.status_code == status
    assert proxied.content == direct.content
    assert fake.requests[-1].path == f"/{path}"


def test_vertex_without_a_token_gets_googles_401(gateway: RunningGateway) -> None:
    response = post(
        f"{gateway.provider_url('google-vertex-ai')}/{VERTEX_PREFIX}/gemini-2.0-flash:generateContent", {}
    )
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert gateway.wait_for_logs(1)[0]["status"] == 401


def test_upstream_dropping_mid_stream_breaks_the_client_stream(gateway: RunningGateway) -> None:
    with studio(gateway.provider_url("google-ai-studio")) as client, pytest.raises(httpx.HTTPError):
        list(client.models.generate_content_stream(model="drop-mid-stream", contents=PROMPT))
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["stream"]) == (200, True)
    assert "broke off" in record["error"]


def test_sdk_embed_content_sent_as_a_batch_is_counted_and_priced(gateway: RunningGateway) -> None:
    texts = ["the capital of France is Paris", "an embedding of two sentences"]
    url = f"{gateway.provider_url('google-ai-studio')}/v1beta/models/gemini-embedding-001:embedContent"
    for text in texts:
        assert post(url, {"x-goog-api-key": API_KEY}, {"content": {"parts": [{"text": text}]}}).is_success
    with studio(gateway.provider_url("google-ai-studio")) as client:
        answer = client.models.embed_content(model="gemini-embedding-001", contents=texts)
    assert answer.embeddings is not None
    assert len(answer.embeddings) == 2
    batch, *singles = gateway.wait_for_logs(3)
    assert batch["endpoint"].endswith(":batchEmbedContents")
    # AI Studio reports no usage for embeddings: the batch counts as its texts sent one by one.
    assert batch["usage_estimated"] is True
    assert batch["tokens_in"] == sum(single["tokens_in"] for single in singles) > 0
    assert batch["cost_usd"] == pytest.approx(sum(single["cost_usd"] for single in singles))
    assert batch["cost_usd"] > 0
