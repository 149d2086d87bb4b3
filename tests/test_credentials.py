"""Credential scrubbing as the log record builder uses it (`Secrets`), and header text."""

from __future__ import annotations

import sys
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


def test_only_a_key_is_masked_cut_off_and_only_from_a_start_of_its_own() -> None:
    """A cookie, subprotocols or a value that shares its start with ordinary text is masked whole
    only; a key (its header, `?key=`, a gateway token) cut off too, unless its start is shared."""
    cookie = "session=us-east-1-cluster-a.0123456789abcdef"
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJlLW9mLXRoZS1hY21l"
    secrets = Secrets()
    secrets.add_headers([("Cookie", cookie), ("Sec-WebSocket-Protocol", "openai-beta.realtime-v1-preview")])
    secrets.add_headers([("Authorization", f"Bearer {jwt}"), ("x-api-key", LONG_KEY)])
    secrets.add_query(f"key={LONG_KEY[::-1]}")
    secrets.add_headers([("cf-aig-authorization", "Bearer sg_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe")])
    secrets.add_headers(
        [("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-Q1w2E3r4T5y6U7i8O9p0")]
    )
    for whole in (cookie, jwt, LONG_KEY, LONG_KEY[::-1]):
        assert secrets.scrub_text(f"[{whole}]") == f"[{MASK}]"
    kept = f"{cookie[:30]}…, openai-beta.realtime-v1, {jwt[:40]}…, eyJhbGciOiJIUzI1NiJ9.e30.x"
    assert secrets.scrub_text(kept) == kept
    assert secrets.scrub(kept.encode()) == kept.encode()
    cut = f"{LONG_KEY[:30]}…, {LONG_KEY[::-1][:30]}…, sg_Zx9Yw8Vu7Ts6Rq5P…, sk-Q1w2E3r4T5y6U7…"
    assert secrets.scrub_text(cut) == f"{MASK}…, {MASK}…, {MASK}…, {MASK}…"
    # A start of few characters is none of a key's own (a placeholder `xxxxxxxx…`), masked whole.
    dull = Secrets()
    dull.add_headers([("x-api-key", "x" * 20 + "-0123456789")])
    assert dull.scrub_text("x" * 24) == "x" * 24


def test_masking_many_cut_quotes_runs_no_python_per_quote() -> None:
    """A client can fill a body with its key's start, one wrong character after each: masking must
    stay at C speed, one `re` substitution per start, not a Python loop per quote."""
    secrets = Secrets()
    secrets.add_headers([("Authorization", f"Bearer {LONG_KEY}")])
    body = (LONG_KEY[:16] + "!") * (2**20 // 17)
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        masked_text = secrets.scrub_text(body)
        masked_bytes = secrets.scrub(body.encode(), more=True)
    finally:
        sys.setprofile(None)
    assert masked_text == f"{MASK}!" * (2**20 // 17)
    assert masked_bytes == masked_text.encode()
    assert calls < 100  # a handful per scrub, not one per quote (61,680 of them)
