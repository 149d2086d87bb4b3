"""Credential scrubbing as the log record builder uses it (`Secrets`), and header text."""

from __future__ import annotations

from urllib.parse import quote

from sluicegate.credentials import MASK, Secrets, is_credential_header
from sluicegate.headertext import header_text
from sluicegate.providers.openai_media import billed_by_request, is_form

KEY = "sk-live-0123456789abcdef"


def _secrets() -> Secrets:
    secrets = Secrets()
    secrets.add_headers([("Authorization", f"Bearer {KEY}"), ("Content-Type", "application/json")])
    return secrets


def test_a_key_echoed_in_another_header_is_masked_whatever_its_form() -> None:
    headers = {"x-debug": f"key={KEY}", "x-forwarded": quote(f"Bearer {KEY}", safe=""), "accept": "*/*"}
    scrubbed = _secrets().scrub_headers(headers)
    assert KEY not in "".join(scrubbed.values())
    assert scrubbed["x-debug"] == f"key={MASK}"
    assert scrubbed["x-forwarded"] == MASK
    assert scrubbed["accept"] == "*/*"


def test_headers_without_a_credential_come_back_as_they_were() -> None:
    headers = {"accept": "*/*", "user-agent": "OpenAI/Python 1.0"}
    assert _secrets().scrub_headers(headers) is headers
    assert Secrets().scrub_headers(headers) is headers  # no credential at all


def test_scrubbing_headers_agrees_with_scrubbing_values() -> None:
    secrets = _secrets()
    for headers in ({"a": KEY, "b": "x"}, {"a": "x" + KEY + "y", "b": KEY[:-1]}, {}):
        assert secrets.scrub_headers(dict(headers)) == secrets.scrub_value(dict(headers))


def test_forms_are_those_of_the_request_at_hand() -> None:
    first, second = _secrets(), Secrets()
    second.add_headers([("Authorization", "Bearer sk-other-9876543210")])
    assert first.scrub(b"sk-other-9876543210") == b"sk-other-9876543210"
    assert second.scrub(b"sk-other-9876543210") == MASK.encode()
    assert first.scrub(KEY.encode()) == MASK.encode()


def test_header_text_keeps_ascii_and_replaces_bytes_that_are_not_utf8() -> None:
    assert header_text("Bearer abc") == "Bearer abc"
    assert header_text("café") == "café"
    latin1 = b"caf\xe9".decode("utf-8", "surrogateescape")  # as aiohttp hands it over
    assert header_text(latin1) == "caf\ufffd"


def test_media_paths_match_whole_segments_only() -> None:
    assert is_form("audio/transcriptions")
    assert is_form("v1/audio/transcriptions/")
    assert not is_form("xaudio/transcriptions")
    assert not is_form("chat/completions")
    assert billed_by_request("v1/images/generations", {"n": 2}) is not None
    assert billed_by_request("myimages/generations", {"n": 2}) is None
    speech = billed_by_request("audio/speech", {"input": "hello"})
    assert speech is not None
    assert speech.characters == 5


def test_a_stored_header_is_a_credential_by_its_name_or_a_scheme_in_its_value() -> None:
    credentials = [
        ("Authorization", "anything"), ("X-Tenant-Key", "t-0123456789"), ("X-Auth-Token", "abc"),
        ("Helicone-Auth", "Bearer x"), ("X-Client-Secret", "s"), ("X-Custom", "Bearer sk-0123456789"),
        ("X-Custom", "basic dXNlcjpwYXNz"),
    ]  # fmt: skip
    settings = [
        ("X-Title", "Acme Support Assistant"), ("HTTP-Referer", "https://acme.example.com"),
        ("OpenAI-Organization", "org-0123456789"), ("X-Title", "Key Largo Tours"),
    ]  # fmt: skip
    assert all(is_credential_header(name, value) for name, value in credentials)
    assert not any(is_credential_header(name, value) for name, value in settings)


LONG_KEY = "sk-proj-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 4  # as long as OpenAI's project keys


def test_a_credential_cut_off_is_masked_from_its_start_on() -> None:
    secrets = Secrets()
    secrets.add_headers([("Authorization", f"Bearer {LONG_KEY}")])
    for text in (f"bye {LONG_KEY[:33]}", f"bad key Bearer {LONG_KEY[:40]}…, try another"):
        assert LONG_KEY[:16] not in (secrets.scrub_text(text) or "")
        assert LONG_KEY[:16].encode() not in secrets.scrub(text.encode())
    assert secrets.scrub_text(f"bye {LONG_KEY[:33]}") == f"bye {MASK}"
    assert secrets.scrub_text(f"Bearer {LONG_KEY[:40]}…") == f"Bearer {MASK}…"
    # Fewer characters than a key's common start and a few of its own are left (`sk-proj-0123456`).
    assert secrets.scrub_text(f"bye {LONG_KEY[:15]}") == f"bye {LONG_KEY[:15]}"
    # Only a credential, one token, is masked cut off: not a value masked whole, whose start is no
    # secret (a guardrail's restored text, an `X-Title`), nor a header of several (subprotocols).
    secrets.add_value("Acme Support Assistant for the web")
    secrets.add_headers([("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-0123456789")])
    text = "Acme Support Assistant for the web, Acme Support Assistant, realtime, openai's API"
    assert secrets.scrub_text(text) == f"{MASK}, Acme Support Assistant, realtime, openai's API"
