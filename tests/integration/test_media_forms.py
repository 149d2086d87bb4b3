"""OpenAI's multipart endpoints (transcriptions, translations, image edits): the gateway reads the
form's fields wherever their parts sit. OpenAI's curl example (`-F file=@… -F model=…`) and its
Node SDK send the file first, so these tests write that order by hand (the Python SDK sends the
fields first); the image edit goes through the official `openai` SDK. A fake OpenAI that also
serves translations and image edits, on loopback."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import httpx2 as httpx
import openai
import pytest
from aiohttp import web

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.base import CALL
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_budgets import set_settings
from tests.integration.test_spend import mint

KEY = "sk-proj-forms-0123456789abcdef"
AUDIO = bytes(16000 * 45)  # 45 s as the fake counts it; far past the first 64 KB of the form
BOUNDARY = "----sluicegate-form-7f3a"
# A file whose bytes hold what looks like another form's `model` part: content, not a field.
DECOY = b'\r\n--other\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o-transcribe\r\n--other--'


class MediaFake(FakeOpenAI):
    """The fake OpenAI, also serving translations (as transcriptions) and image edits and
    variations (as generations: DALL·E answers with images and no usage)."""

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_post("/v1/audio/translations", self._translation)
        app.router.add_post("/v1/images/edits", self._images)
        app.router.add_post("/v1/images/variations", self._images)
        return app

    async def _translation(self, request: web.Request) -> web.StreamResponse:
        seconds = math.ceil(len(request[CALL].body.get("file", b"")) / 16000)
        return web.json_response(
            {"text": "a fake translation", "usage": {"type": "duration", "seconds": seconds}}
        )


@pytest.fixture
def fake() -> Iterator[MediaFake]:
    with MediaFake().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: MediaFake) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    kind = "Content-Type: audio/wav\r\n" if filename else ""
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{kind}\r\n".encode() + value + b"\r\n"


def file_first(model: str, audio: bytes = AUDIO + DECOY) -> bytes:
    """A form as curl's `-F file=@talk.wav -F model=…` writes it."""
    return part("file", audio, "talk.wav") + part("model", model.encode()) + f"--{BOUNDARY}--\r\n".encode()


def post_form(
    gateway: RunningGateway,
    body: bytes,
    path: str = "audio/transcriptions",
    boundary: str = BOUNDARY,
    **headers: str,
) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {KEY}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        **headers,
    }
    return httpx.post(f"{gateway.provider_url('openai')}/{path}", content=body, headers=headers, timeout=30)


def whisper_cost(seconds: float) -> float:
    cost = PriceTable().cost("openai", "whisper-1", Usage(audio_seconds=seconds))
    assert cost is not None
    return cost


@pytest.mark.parametrize(
    ("path", "text"),
    [("audio/transcriptions", "a fake transcript"), ("audio/translations", "a fake translation")],
)
def test_a_form_with_its_file_first_is_priced_by_the_minute_its_answer_reports(
    gateway: RunningGateway, fake: MediaFake, path: str, text: str
) -> None:
    answer = post_form(gateway, file_first("whisper-1"), path)
    assert (answer.status_code, answer.json()["text"]) == (200, text)
    [record] = gateway.wait_for_logs(1)
    seconds = math.ceil(len(AUDIO + DECOY) / 16000)
    assert (record["model"], record["unpriced"]) == ("whisper-1", False)
    assert record["cost_usd"] == pytest.approx(whisper_cost(seconds))
    assert record["cost_usd"] == pytest.approx(0.006 * seconds / 60)  # $0.006 a minute


def test_a_token_limited_to_whisper_may_send_the_file_first(gateway: RunningGateway, fake: MediaFake) -> None:
    _, secret = mint(gateway, "whisper only", models=["whisper-1"])
    token = {"cf-aig-authorization": f"Bearer {secret}"}
    assert post_form(gateway, file_first("whisper-1"), **token).status_code == 200
    refused = post_form(gateway, file_first("gpt-4o-transcribe"), **token)
    assert refused.status_code == 403
    assert "gpt-4o-transcribe" in refused.json()["error"]["message"]
    assert len(fake.requests) == 1


def test_under_a_cost_rule_a_file_first_form_is_charged_and_an_unpriced_model_refused(
    gateway: RunningGateway, fake: MediaFake
) -> None:
    set_settings(gateway, rate_limits=[{"name": "budget", "limit": 5, "period": 86400, "unit": "cost"}])
    refused = post_form(gateway, file_first("whisper-9000"))
    assert refused.status_code == 422
    assert (refused.json()["error"]["code"], refused.json()["error"]["model"]) == (
        "unpriced_model",
        "whisper-9000",
    )
    assert fake.requests == []
    answered = post_form(gateway, file_first("whisper-1"))
    assert answered.status_code == 200
    # What the first answer cost is counted (a whisper request reserves nothing: its length is
    # known only from the answer): the rule has that much less left.
    left = float(post_form(gateway, file_first("whisper-1")).headers["x-ratelimit-remaining"])
    assert left == pytest.approx(5 - whisper_cost(math.ceil(len(AUDIO + DECOY) / 16000)))


def test_a_form_read_two_ways_is_refused(gateway: RunningGateway, fake: MediaFake) -> None:
    """A body the gateway would read one model from and the provider another is the client's 400,
    not a way past a token's models: a form opening with a boundary other than the declared one
    (the provider takes what comes before its own boundary for a preamble), naming its model
    twice, or opening with a preamble (which no SDK or curl sends)."""
    _, secret = mint(gateway, "whisper only", models=["whisper-1"])
    token = {"cf-aig-authorization": f"Bearer {secret}"}
    decoy = b'--decoy\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--decoy--\r\n'
    framed_twice = post_form(gateway, decoy + file_first("gpt-4o-transcribe", AUDIO), **token)
    assert framed_twice.status_code == 400
    assert "boundary 'decoy'" in framed_twice.json()["error"]["message"]
    twice = part("model", b"whisper-1") + file_first("gpt-4o-transcribe", AUDIO)
    named_twice = post_form(gateway, twice, **token)
    assert named_twice.status_code == 400
    assert "`model` field is sent more than once" in named_twice.json()["error"]["message"]
    # A preamble: the provider skips it, and a gateway that cannot walk the form reads no model.
    preambled = post_form(gateway, b"hello\r\n" + file_first("gpt-4o-transcribe", AUDIO), **token)
    assert preambled.status_code == 400
    assert "does not open with its boundary" in preambled.json()["error"]["message"]
    assert fake.requests == []


def test_an_image_edit_is_priced_per_image_by_the_size_its_form_asks(gateway: RunningGateway) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key=KEY, max_retries=0) as client:
        answer = client.images.edit(
            model="dall-e-2", image=("in.png", b"png"), prompt="a hat", n=2, size="256x256"
        )
    assert answer.data is not None
    assert len(answer.data) == 2
    [record] = gateway.wait_for_logs(1)
    assert (record["model"], record["unpriced"]) == ("dall-e-2", False)
    assert record["cost_usd"] == pytest.approx(2 * 0.016)  # DALL·E 2 at 256x256: $0.016 an image


def raw_part(disposition: bytes, value: bytes) -> bytes:
    """A part whose header lines are written as they are given (folded, repeated, odd quoting)."""
    return f"--{BOUNDARY}\r\n".encode() + disposition + b"\r\n\r\n" + value + b"\r\n"


def test_a_part_named_in_quotes_is_read_as_standard_parsers_read_it(
    gateway: RunningGateway, fake: MediaFake
) -> None:
    """`name=model;` inside another parameter's quoted value names nothing: Python's email parser,
    Go's mime and Starlette read the part as `prompt`, and so does the gateway."""
    _, secret = mint(gateway, "whisper only", models=["whisper-1"])
    quoted = raw_part(
        b'Content-Disposition: form-data; x="a; name=model;"; name="prompt"', b"gpt-4o-transcribe"
    )
    answer = post_form(
        gateway, quoted + file_first("whisper-1"), **{"cf-aig-authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 200, answer.text
    [sent] = fake.requests
    assert (sent.json["model"], sent.json["prompt"]) == ("whisper-1", "gpt-4o-transcribe")


@pytest.mark.parametrize(
    ("disposition", "why"),
    [
        (b'Content-Disposition: form-data;\r\n name="model"', "folded onto a second line"),
        (
            b'Content-Disposition: form-data; name="prompt"\r\nContent-Disposition: form-data; name="model"',
            "more than one Content-Disposition header",
        ),
        (b'Content-Disposition: form-data; name="prompt"; name="model"', "its 'name' parameter twice"),
        (b"Content-Disposition: form-data; name*=UTF-8''model", "RFC 2231's `name*` form"),
        (b'Content-Disposition: form-data; name="mo\\del"', "name holds a backslash"),
        (b'Content-Disposition: form-data; name="model" "prompt"', "parameters cannot be read"),
        (
            b'Content-Disposition: form-data; name="model"; filename="model.txt"',
            "`model` field is sent as a file",
        ),
    ],
)
def test_a_part_that_parsers_could_name_otherwise_is_refused(
    gateway: RunningGateway, fake: MediaFake, disposition: bytes, why: str
) -> None:
    """Part headers the gateway would read no `model` from (or a `model` the token allows) while
    another parser reads `gpt-4o-transcribe` as the model are the client's 400, not forwarded."""
    _, secret = mint(gateway, "whisper only", models=["whisper-1"])
    body = raw_part(disposition, b"gpt-4o-transcribe") + file_first("whisper-1", AUDIO)
    refused = post_form(gateway, body, **{"cf-aig-authorization": f"Bearer {secret}"})
    assert refused.status_code == 400, refused.text
    assert why in refused.json()["error"]["message"]
    assert fake.requests == []


@pytest.mark.parametrize(("name", "first", "last"), [("n", b"1", b"10"), ("size", b"256x256", b"1024x1024")])
def test_an_image_edit_sending_a_billed_field_twice_is_refused(
    gateway: RunningGateway, fake: MediaFake, name: str, first: bytes, last: bytes
) -> None:
    """A parser keeping the last value would make more or larger images than the gateway bills."""
    body = (
        part("model", b"dall-e-2")
        + part("prompt", b"a hat")
        + part(name, first)
        + part(name, last)
        + part("image", b"png", "in.png")
        + f"--{BOUNDARY}--\r\n".encode()
    )
    refused = post_form(gateway, body, "images/edits")
    assert refused.status_code == 400, refused.text
    assert f"`{name}` field is sent more than once" in refused.json()["error"]["message"]
    assert fake.requests == []
