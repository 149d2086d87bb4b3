"""Built-in detectors: what each finds, and the look-alikes each lets pass."""

from __future__ import annotations

import pytest

from sluicegate.guardrails.scanner import Scanner, builtin_detectors

SCANNER = Scanner(builtin_detectors())


def found(text: str) -> list[tuple[str, str]]:
    return [(span.detector, text[span.start : span.end]) for span in SCANNER.find(text)]


@pytest.mark.parametrize(
    ("text", "detector", "value"),
    [
        ("write to bob.smith+tag@example.co.uk.", "email", "bob.smith+tag@example.co.uk"),
        ("<alice@mail.example.org>", "email", "alice@mail.example.org"),
        ("card 4111 1111 1111 1111 please", "credit_card", "4111 1111 1111 1111"),
        ("card 4111-1111-1111-1111.", "credit_card", "4111-1111-1111-1111"),
        ("amex 378282246310005", "credit_card", "378282246310005"),
        ("mc 5555555555554444", "credit_card", "5555555555554444"),
        ("ssn 123-45-6789", "us_ssn", "123-45-6789"),
        ("ssn 219 09 9999", "us_ssn", "219 09 9999"),
        ("call +1 (415) 555-2671 now", "phone", "+1 (415) 555-2671"),
        ("call +14155552671", "phone", "+14155552671"),
        ("call +44 20 7946 0958", "phone", "+44 20 7946 0958"),
        ("call +49 (0)30 1234567", "phone", "+49 (0)30 1234567"),
        ("call (415) 555-2671", "phone", "(415) 555-2671"),
        ("call 415.555.2671", "phone", "415.555.2671"),
        ("call 1-800-555-0199", "phone", "1-800-555-0199"),
        ("call 020 7946 0958", "phone", "020 7946 0958"),
        ("call 06 12 34 56 78", "phone", "06 12 34 56 78"),
        ("iban DE89 3704 0044 0532 0130 00 EUR", "iban", "DE89 3704 0044 0532 0130 00"),
        ("iban GB82WEST12345698765432", "iban", "GB82WEST12345698765432"),
        ("from 192.168.1.1:8080", "ip_address", "192.168.1.1"),
        # Link-local, but its interface id is a MAC address (EUI-64): it names a device.
        ("from fe80::21a:2bff:fe3c:4d5e.", "ip_address.v6", "fe80::21a:2bff:fe3c:4d5e"),
        ("from 2001:db8::ff00:42:8329", "ip_address.v6", "2001:db8::ff00:42:8329"),
        ("key sk-proj-" + "a1B2c3D4" * 8, "secret.openai", "sk-proj-" + "a1B2c3D4" * 8),
        ("key sk-ant-api03-" + "x9Y8z7W6" * 12, "secret.anthropic", "sk-ant-api03-" + "x9Y8z7W6" * 12),
        (
            "key AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
            "secret.google",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        ),
        (
            "key hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
            "secret.huggingface",
            "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
        ),
        ("key ghp_" + "A1b2" * 9, "secret.github", "ghp_" + "A1b2" * 9),
        ("key xoxb-1234567890-0987654321-AbCdEfGh", "secret.slack", "xoxb-1234567890-0987654321-AbCdEfGh"),
        ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "secret.stripe", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("aws AKIAIOSFODNN7EXAMPLE,", "secret.aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl.",
            "secret.jwt",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nq83==\n-----END RSA PRIVATE KEY-----\nthanks",
            "secret.private_key",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nq83==\n-----END RSA PRIVATE KEY-----",
        ),
    ],
)
def test_finds(text: str, detector: str, value: str) -> None:
    assert found(text) == [(detector, value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "order 1234567812345670",  # passes Luhn, but no card network starts with 1
        "zeros 0000 0000 0000 0000",
        "numbers 4111 1111 1111 1111 1111 1111",  # part of a longer number
        "amount 4111111111111111.50",
        "ssn 666-12-3456 or 900-12-3456 or 123-00-4567 or 123-45-0000 or 123-45 6789",
        "dates 2024-01-15, 15.01.2024, 01/15/2024 and 12:30:45",
        "versions 1.2.3, v2.10.4 and 10.0.0.1.5",
        "plain 1234567890 and 4155552671",
        "price 1,234.56 and range 10-20",
        "iban DE89 3704 0044 0532 0130 01",  # checksum off by one
        "not an ip 999.1.1.1 nor 10.0.0.256 nor a mac 00:1A:2B:3C:4D:5E",
        "code std::vector and dead::beef",
        "words like skeleton sk-short AKIA and eyJhbGciOiJ.eyJ.x",
        "not a jwt eyJub3QiOiJqc29uIn0.eyJzdWIiOiIxIn0.c2ln",  # header has no alg
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "publishable pk_live_4eC39HqLyjWDarjtT1zdp7dc",
    ],
)
def test_lets_pass(text: str) -> None:
    assert found(text) == []


def test_private_key_without_end_stops_at_prose() -> None:
    text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\nThis is the rest of my note"
    (span,) = SCANNER.find(text)
    assert text[span.end :].strip() == "This is the rest of my note"


def test_offsets_are_characters_in_non_ascii_text() -> None:
    text = "café ☕ naïve — écrivez à bob@example.com, carte 4111 1111 1111 1111 😀"
    assert found(text) == [("email", "bob@example.com"), ("credit_card", "4111 1111 1111 1111")]
