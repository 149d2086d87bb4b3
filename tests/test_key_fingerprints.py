"""What a stored provider key's fingerprint shows of it: a hash prefix, and the last 4 characters
only of a key long enough for them to tell nothing."""

from __future__ import annotations

import hashlib

from sluicegate.keys import fingerprint


def digest(key: str) -> str:
    return f"sha256:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def test_only_a_key_of_20_characters_or_more_shows_its_last_four() -> None:
    provider_s = "sk-proj-0123456789abcdefWXYZ"
    assert fingerprint(provider_s) == digest(provider_s) + "…WXYZ"
    for chosen_by_hand in ("abc", "hunter2", "local-vllm-key-19ch"):
        assert fingerprint(chosen_by_hand) == digest(chosen_by_hand), chosen_by_hand
