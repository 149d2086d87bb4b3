"""Words one letter from a stored word that are other words, not typos, through the gateway with
the openai SDK: "methanol" is not served the "ethanol" answer, nor "Pixel 8" the "Pixel 8a" one."""

from __future__ import annotations

import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import ask, gateway, stored

__all__ = ["gateway"]  # the fixture, shared with test_semantic.py


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Is it safe to drink ethanol?", "Is it safe to drink methanol?"),
        ("Is butane heavier than air?", "Is butene heavier than air?"),
        ("Is the Pixel 8a waterproof?", "Is the Pixel 8 waterproof?"),
        ("Is the Galaxy S23 waterproof?", "Is the Galaxy S23+ waterproof?"),
    ],
)
def test_a_lookalike_word_or_model_code_is_not_served(
    gateway: RunningGateway, fake: FakeOpenAI, first: str, second: str
) -> None:
    ask(gateway, first)
    stored(gateway, 1)
    assert ask(gateway, second).headers["x-semantic-cache"] == "MISS"
    assert len(fake.requests) == 2


def test_a_typo_still_hits(gateway: RunningGateway) -> None:
    ask(gateway, "What's the phone number of Fitzbillies?")
    stored(gateway, 1)
    assert ask(gateway, "whats the phone number of Fitzbilles").headers["x-semantic-cache"] == "HIT"
