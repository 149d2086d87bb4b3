"""Placeholders: typed, numbered per request, the same value the same number, restorable."""

from __future__ import annotations

from sluicegate.guardrails.placeholders import Vault, redact
from sluicegate.guardrails.scanner import Scanner, builtin_detectors

SCANNER = Scanner(builtin_detectors())


def test_numbers_per_type_and_reuses_them_for_the_same_value() -> None:
    vault = Vault()
    text, spans = redact(
        "bob@example.com, eve@example.com, bob@example.com, card 4111 1111 1111 1111", SCANNER, vault
    )
    assert text == "[EMAIL_1], [EMAIL_2], [EMAIL_1], card [CREDIT_CARD_1]"
    assert [span.entity for span in spans] == ["email", "email", "email", "credit_card"]
    later, _ = redact("again eve@example.com", SCANNER, vault)
    assert later == "again [EMAIL_2]"


def test_restores_only_what_came_from_the_request() -> None:
    vault = Vault()
    redact("mail bob@example.com", SCANNER, vault)
    answer, _ = redact("I wrote to [EMAIL_1] and to eve@example.com", SCANNER, vault, restorable=False)
    assert answer == "I wrote to [EMAIL_1] and to [EMAIL_2]"
    assert vault.restore(answer) == "I wrote to bob@example.com and to [EMAIL_2]"
    assert (
        vault.restore("unknown [EMAIL_9] and [NOT A PLACEHOLDER]")
        == "unknown [EMAIL_9] and [NOT A PLACEHOLDER]"
    )


def test_nothing_found_leaves_the_text_as_it_was() -> None:
    vault = Vault()
    assert redact("nothing to see here", SCANNER, vault) == ("nothing to see here", [])
    assert len(vault) == 0


def test_what_a_log_must_mask_includes_the_json_escaped_form() -> None:
    # Restored inside a tool call's arguments, a value is escaped once more in the logged body.
    vault = Vault()
    vault.placeholder("secret", "line one\nline two")
    vault.placeholder("email", "ann@example.org")
    vault.placeholder("email", "kept@example.org", restorable=False)
    assert sorted(vault.restorable()) == ["ann@example.org", "line one\nline two", "line one\\nline two"]
