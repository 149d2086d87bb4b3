"""A `cf-aig-cache-ttl` outside the range Cloudflare documents ("The minimum TTL is 60 seconds and the
maximum TTL is one month") is taken into it: the request is answered, its answer stored for 60 s or
30 days, and `x-sluicegate-warning` says so. The official openai SDK is the client (raw HTTP for the
universal endpoint, which it does not speak), a fake OpenAI server the upstream, on loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_cache import universal_step

WARNING = "x-sluicegate-warning"
STATUS = "cf-aig-cache-status"
MONTH = 30 * 24 * 3600
BELOW = "cf-aig-cache-ttl is below the minimum of 60 seconds; 60 is used"
ABOVE = f"cf-aig-cache-ttl is above the maximum of {MONTH} seconds (30 days); {MONTH} is used"


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock) -> RunningGateway:
    return make_gateway(clock=clock, upstreams={"openai": fake.base_url})  # its own cache is off


def ask(gw: RunningGateway, question: str, headers: dict[str, str], stream: bool = False) -> Any:
    """One chat completion through the SDK with `headers` (a stream read to its end); its answer's
    headers."""
    messages: list[Any] = [{"role": "user", "content": question}]
    with openai.OpenAI(base_url=gw.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        if not stream:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=messages, extra_headers=headers
            )
            assert raw.parse().choices[0].message.content == f"echo: {question}"
            return raw.headers
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=messages, stream=True, extra_headers=headers
        ) as response:
            assert list(response.parse())
            return response.headers


def test_a_ttl_below_the_minimum_is_served_and_cached_for_60_seconds(
    gw: RunningGateway, fake: FakeOpenAI, clock: FakeClock
) -> None:
    first = ask(gw, "short", {"cf-aig-cache-ttl": "30"})
    assert (first[STATUS], first.get_list(WARNING)) == ("MISS", [BELOW])

    clock.advance(59)  # past the 30 s asked, within the 60 s used
    again = ask(gw, "short", {"cf-aig-cache-ttl": "30"})
    assert (again[STATUS], again.get_list(WARNING)) == ("HIT", [BELOW])  # a hit is told too
    clock.advance(2)
    assert ask(gw, "short", {"cf-aig-cache-ttl": "60"})[STATUS] == "MISS"
    assert len(fake.requests) == 2


def test_a_ttl_of_ten_years_is_served_and_cached_for_30_days(
    gw: RunningGateway, fake: FakeOpenAI, clock: FakeClock
) -> None:
    ten_years = str(10 * 365 * 24 * 3600)
    first = ask(gw, "long", {"cf-aig-cache-ttl": ten_years})
    assert (first[STATUS], first.get_list(WARNING)) == ("MISS", [ABOVE])

    clock.advance(MONTH - 1)
    assert ask(gw, "long", {"cf-aig-cache-ttl": "60"})[STATUS] == "HIT"
    clock.advance(2)
    assert ask(gw, "long", {"cf-aig-cache-ttl": "60"})[STATUS] == "MISS"
    assert len(fake.requests) == 2


def test_a_number_too_long_to_read_is_above_the_maximum(gw: RunningGateway) -> None:
    """More digits than Python's int() reads (4300): still a number of seconds, and above the range."""
    headers = ask(gw, "huge", {"cf-aig-cache-ttl": "9" * 5000})
    assert (headers[STATUS], headers.get_list(WARNING)) == ("MISS", [ABOVE])


def test_a_streamed_answers_warning_is_not_stored_with_it(gw: RunningGateway, fake: FakeOpenAI) -> None:
    first = ask(gw, "streamed", {"cf-aig-cache-ttl": "5"}, stream=True)
    assert (first[STATUS], first.get_list(WARNING)) == ("MISS", [BELOW])

    hit = ask(gw, "streamed", {"cf-aig-cache-ttl": "600"}, stream=True)
    assert hit[STATUS] == "HIT"
    assert WARNING not in hit  # it was about the first request's header, not the answer
    assert len(fake.requests) == 1


def test_the_deprecated_spelling_is_taken_into_range_and_named(gw: RunningGateway) -> None:
    headers = ask(gw, "old name", {"cf-cache-ttl": "5"})
    assert headers.get_list(WARNING) == [BELOW.replace("cf-aig-cache-ttl", "cf-cache-ttl")]


def test_a_universal_steps_own_ttl_is_taken_into_range_and_the_warning_names_the_step(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    steps = [universal_step("gpt-4o", **{"cf-aig-cache-ttl": "10"})]
    answers = [gw.http.post("/v1/local/default", json=steps) for _ in range(2)]

    assert [(a.status_code, a.headers.get(STATUS)) for a in answers] == [(200, "MISS"), (200, "HIT")]
    assert [a.headers.get_list(WARNING) for a in answers] == [[f"step 0: {BELOW}"]] * 2
    assert len(fake.requests) == 1


def test_a_streamed_answers_dropped_metadata_note_is_not_stored_with_it(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    """`x-sluicegate-metadata-dropped` is about the first request's `cf-aig-metadata`, as the
    warning is: a later hit without metadata must not say its entries were dropped."""
    six = '{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}'  # Cloudflare keeps the first five
    first = ask(gw, "noted", {"cf-aig-cache-ttl": "600", "cf-aig-metadata": six}, stream=True)
    assert (first[STATUS], first["x-sluicegate-metadata-dropped"]) == ("MISS", '["f"]')

    hit = ask(gw, "noted", {"cf-aig-cache-ttl": "600"}, stream=True)
    assert hit[STATUS] == "HIT"
    assert "x-sluicegate-metadata-dropped" not in hit
    assert len(fake.requests) == 1
