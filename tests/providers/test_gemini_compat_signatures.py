"""Which Gemini models get Google's stand-in signature on a function call sent back without one."""

from __future__ import annotations

import pytest

from sluicegate.providers.gemini.compat_request import NO_SIGNATURE, native_body

CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "Paris"}'}}
CHAT = {
    "messages": [
        {"role": "user", "content": "lookup Paris"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "France"},
    ]
}


@pytest.mark.parametrize(
    ("model", "signed"),
    [
        ("gemini-3-pro-preview", True),
        ("gemini-flash-latest", True),  # an alias may name a Gemini 3
        ("gemini-2.5-flash", False),
        ("gemini-1.5-pro-latest", False),  # the version says it does not sign
    ],
)
def test_the_stand_in_goes_to_models_that_sign_their_calls(model: str, signed: bool) -> None:
    part = native_body(CHAT, model)["contents"][1]["parts"][0]
    assert ("thoughtSignature" in part) is signed
    if signed:
        assert part["thoughtSignature"] == NO_SIGNATURE


def test_a_signature_the_client_kept_goes_back_as_it_came() -> None:
    kept = {**CALL, "extra_content": {"google": {"thought_signature": "c2ln"}}}
    chat = {
        "messages": [CHAT["messages"][0], {"role": "assistant", "tool_calls": [kept]}, CHAT["messages"][2]]
    }
    part = native_body(chat, "gemini-2.5-flash")["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == "c2ln"
