"""Detector precision through the gateway: what the built-in PII detectors redact, and what they
leave alone, in a request and in a streamed answer, over loopback with the official OpenAI SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import openai
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

EVERY_ENTITY = ["email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret"]


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    settings = {"guardrails": {"pii": {"action": "redact", "entities": EVERY_ENTITY, "direction": "both"}}}
    response = gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    assert response.status_code == 200, response.text
    return gateway


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def sent(client: openai.OpenAI, fake: FakeOpenAI, text: str) -> str:
    """What the upstream got for a user turn of `text`."""
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    body = orjson.loads(fake.requests[-1].body)
    content: str = body["messages"][-1]["content"]
    return content


def streamed(client: openai.OpenAI, text: str) -> str:
    """The answer the client got, streamed, to a user turn of `text` (the fake echoes it)."""
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], stream=True
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_an_address_with_accented_letters_is_redacted_whole(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    assert (
        sent(client, fake, "from maría.garcía@correo.es and rené@société.fr")
        == "from [EMAIL_1] and [EMAIL_2]"
    )


def test_versions_and_local_addresses_pass_and_a_host_is_redacted(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    text = (
        "pin requests==2.32.3.1 (Framework 4.8.1.0); bind 0.0.0.0:8080, 127.0.0.1, [::1]; peer 198.51.100.7"
    )
    assert sent(client, fake, text) == text.replace("198.51.100.7", "[IP_ADDRESS_1]")


def test_a_version_word_in_a_streamed_answer_is_read_across_chunks(client: openai.OpenAI) -> None:
    text = "sections 1.1.1.1 through 1.1.1.9 of the .NET Framework 4.8.1.0 notes"
    assert streamed(client, text) == f"echo: {text}"


def test_order_serial_and_lot_numbers_pass_and_a_phone_is_redacted(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    text = (
        "order ORD-0012-3456-78, Serial: 0012-3456-7890, Lot numbers: 0123 4567 890, 0123 4567 891;"
        " call 020 7946 0958"
    )
    assert sent(client, fake, text) == text.replace("020 7946 0958", "[PHONE_1]")


def test_a_css_class_and_an_ssh_remote_pass_and_a_key_is_redacted(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    key = "sk-proj-" + "x9_Y8-z7W6" * 8
    text = f".sk-button-primary-large-rounded-corners; git clone git@github.com:org/repo.git; {key}"
    assert sent(client, fake, text) == text.replace(key, "[SECRET_1]")


def test_a_card_in_parentheses_and_an_iban_in_small_letters_are_redacted(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    text = "card (4111 1111 1111 1111), iban de89370400440532013000, dial 0044 20 7946 0958"
    assert sent(client, fake, text) == "card ([CREDIT_CARD_1]), iban [IBAN_1], dial [PHONE_1]"


def test_ordinary_pii_beside_codes_labels_tags_and_cjk_is_redacted(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    text = (
        "SSN-123-45-6789; about my order: 415-555-0134; <td>93.184.216.34</td>;"
        " alice.smith@gmail.com:Passw0rd!; 请发邮件到jane@example.com; Tracking: 0012 3456 7890"
    )
    assert sent(client, fake, text) == (
        "SSN-[US_SSN_1]; about my order: [PHONE_1]; <td>[IP_ADDRESS_1]</td>;"
        " [EMAIL_1]:Passw0rd!; 请发邮件到[EMAIL_2]; Tracking: 0012 3456 7890"
    )


def test_an_address_in_cjk_prose_is_redacted_in_a_streamed_answer(client: openai.OpenAI) -> None:
    text = "メールはjane@example.comまでお願いします。연락처는bob@example.com입니다"
    assert streamed(client, text) == "echo: メールは[EMAIL_1]までお願いします。연락처는[EMAIL_2]입니다"
