"""Detector precision: what the built-in detectors took for personal data that is none (versions,
local addresses, order and serial numbers, kebab-case names, SSH remotes), and addresses in
letters of any script that they cut short."""

from __future__ import annotations

import pytest

from sluicegate.guardrails.placeholders import Vault
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.stream import StreamRedactor

SCANNER = Scanner(builtin_detectors())


def found(text: str) -> list[tuple[str, str]]:
    return [(span.entity, text[span.start : span.end]) for span in SCANNER.find(text)]


def streamed(text: str, size: int) -> str:
    """`text` redacted as a stream of `size`-character pieces."""
    redactor = StreamRedactor(SCANNER, Vault())
    pieces = [text[index : index + size] for index in range(0, len(text), size)]
    return "".join(redactor.feed(piece) for piece in pieces) + redactor.close()


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("escribe a maría.garcía@correo.es hoy", "maría.garcía@correo.es"),
        ("schreib jürgen.müller@beispiel.de.", "jürgen.müller@beispiel.de"),
        ("écrivez à rené@société.fr", "rené@société.fr"),
        ("写信给 用户@例子.广告", "用户@例子.广告"),
        ("(Zoë@example.com)", "Zoë@example.com"),
    ],
)
def test_an_address_in_any_script_is_found_whole(text: str, address: str) -> None:
    assert found(text) == [("email", address)]


def test_an_address_in_any_script_is_found_whole_however_streamed() -> None:
    text = "escribe a maría.garcía@correo.es hoy"
    for size in (1, 2, 3, 5, 8):
        assert streamed(text, size) == "escribe a [EMAIL_1] hoy"


@pytest.mark.parametrize(
    "text",
    [
        "pin `types-requests<2.31.0.7`, `requests==2.32.3.1`, `pkg>=1.2.3.4`, `lib~=4.3.2.1`",
        "Package version 1.0.0.1 released; Version: 2.0.1.4",
        "Built with .NET Framework 4.8.1.0",
        "Chapter 2.3.4.1 of the spec, § 4.4.4.4",
        "sections 1.1.1.1 through 1.1.1.9",
        "sections 1.1.1.1, and 1.1.1.10",
        'connect(host="127.0.0.1", port=5432) or [::1]',
        "Listening on 0.0.0.0:8080 and http://[::1]:8080/",
        "zone ids: [fe80::1%en0], `fe80::1%25en0`, 169.254.10.20",
        "range 10.0.0.0/8 and 192.168.0.0/16 are private, 2001:db8::/32 too",
    ],
)
def test_versions_sections_and_addresses_that_identify_no_one_pass(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "addresses"),
    [
        # A documentation range stands in for a real address in examples.
        ("server at 203.0.113.45, not 127.0.0.1", ["203.0.113.45"]),
        ("HOST=192.168.1.10 version 1.2.3.4", ["192.168.1.10"]),  # `=` assigns, it compares no versions
        ("flow 10.1.2.3->192.168.1.2 on 0.0.0.0", ["10.1.2.3", "192.168.1.2"]),
        ("host 10.0.0.1/8 in 10.0.0.0/8", ["10.0.0.1"]),  # a host in its network, not the network
        ("the conversion 1.2.3.4, v 5.6.7.8", ["1.2.3.4"]),
        ("from fe80::21a:2bff:fe3c:4d5e, not fe80::1", ["fe80::21a:2bff:fe3c:4d5e"]),  # EUI-64: a MAC
    ],
)
def test_addresses_of_hosts_are_still_found(text: str, addresses: list[str]) -> None:
    assert found(text) == [("ip_address", address) for address in addresses]


def test_a_version_word_is_read_before_a_quad_however_streamed() -> None:
    text = "Built with .NET Framework 4.8.1.0 on 198.51.100.7"
    for size in (1, 2, 3, 7, 11):
        assert streamed(text, size) == "Built with .NET Framework 4.8.1.0 on [IP_ADDRESS_1]"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Your order ORD-0012-3456-78 and call 020 7946 0958", "020 7946 0958"),
        ("Serial: 0012-3456-7890, phone 030 1234567", "030 1234567"),
        ("Lot numbers: 0123 4567 890, 0123 4567 891 — 06 12 34 56 78", "06 12 34 56 78"),
        ("SKU 0151 23456789 or Handy 0151 23456789", "0151 23456789"),
        ("Invoice no. 020 7946 0958; tel 07700 900123", "07700 900123"),
    ],
)
def test_an_order_serial_or_lot_number_is_no_phone(text: str, kept: str) -> None:
    assert found(text) == [("phone", kept)]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Part number 512-34-1234, SSN 078-05-1120", "078-05-1120"),
        ("ref ABC-219-09-9999 for ssn 219-09-9999", "219-09-9999"),
    ],
)
def test_a_part_number_or_code_is_no_ssn(text: str, kept: str) -> None:
    assert found(text) == [("us_ssn", kept)]


def test_a_label_is_read_before_a_number_however_streamed() -> None:
    text = "Lot numbers: 0123 4567 890, 0123 4567 891; call 020 7946 0958"
    for size in (1, 2, 3, 7, 11):
        assert streamed(text, size) == "Lot numbers: 0123 4567 890, 0123 4567 891; call [PHONE_1]"


LEGACY_KEY = "sk-" + "a1B2c3D4" * 6
PROJECT_KEY = "sk-proj-" + "x9_Y8-z7W6" * 8


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f".sk-button-primary-large-rounded-corners-with-shadow-effect {{ }} {LEGACY_KEY}", LEGACY_KEY),
        (f"npm i sk-long-package-name-for-button-components-v2; {PROJECT_KEY}", PROJECT_KEY),
        (
            f"snake case sk-Long_Package_Name_For_Button_Components_V2 {PROJECT_KEY}",
            PROJECT_KEY,
        ),
    ],
)
def test_a_kebab_case_name_is_no_openai_key(text: str, key: str) -> None:
    assert found(text) == [("secret", key)]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("git clone git@github.com:org/repo.git, or ask bob@example.com", "bob@example.com"),
        ("scp deploy@example.com:/srv/app . then mail ops@example.com: done", "ops@example.com"),
    ],
)
def test_an_ssh_remote_is_no_address(text: str, address: str) -> None:
    assert found(text) == [("email", address)]


def test_an_ssh_remote_is_no_address_however_streamed() -> None:
    text = "git clone git@github.com:org/repo.git; write to ops@example.com: thanks"
    for size in (1, 2, 3, 7, 11):
        assert streamed(text, size) == "git clone git@github.com:org/repo.git; write to [EMAIL_1]: thanks"


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        # Each with a look-alike the detector still does not claim.
        ("card (4111 1111 1111 1111), call (4155552671)", "credit_card", "4111 1111 1111 1111"),
        ("iban: de89370400440532013000, not De89370400440532013000", "iban", "de89370400440532013000"),
        ("iban de89 3704 0044 0532 0130 00.", "iban", "de89 3704 0044 0532 0130 00"),
        (
            "IBAN DE89-3704-0044-0532-0130-00 EUR, not DE89-3704 0044 0532 0130 00",
            "iban",
            "DE89-3704-0044-0532-0130-00",
        ),
        # No country code starts with 0.
        ("dial 0044 20 7946 0958, not 0004 20 7946 0958", "phone", "0044 20 7946 0958"),
    ],
)
def test_forms_the_detectors_claim_are_found(text: str, entity: str, value: str) -> None:
    assert found(text) == [(entity, value)]


def test_an_iban_in_small_letters_is_found_however_streamed() -> None:
    text = "pay to iban de89 3704 0044 0532 0130 00 by friday"
    for size in (1, 2, 3, 7, 11):
        assert streamed(text, size) == "pay to iban [IBAN_1] by friday"


# What the rules above must not take for an identifier, a version or a remote: ordinary PII.
@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        # A PII label or a word glued by a dash is no code; only capitals are (`ORD-`).
        ("SSN-123-45-6789", "us_ssn", "123-45-6789"),
        ("ID-415-555-0134", "phone", "415-555-0134"),
        ("Tel-415-555-0134", "phone", "415-555-0134"),
        ("cell-(415) 555-0134", "phone", "(415) 555-0134"),
        ("Ord-415-555-0134", "phone", "415-555-0134"),
        # A label makes only a number with a leading 0 something else, and reaches no further than
        # its line, nor over a list of numbers unlike the one it names.
        ("about my order: 415-555-0134", "phone", "415-555-0134"),
        ("order no. +1 415 555 0134", "phone", "+1 415 555 0134"),
        ("items 12, 123-45-6789", "us_ssn", "123-45-6789"),
        ("Thanks for your order\n415-555-0134", "phone", "415-555-0134"),
        ("Serial number\n020 7946 0958", "phone", "020 7946 0958"),
        # A tag or a bracket is no version operator.
        ("<td>93.184.216.34</td>", "ip_address", "93.184.216.34"),
        ("<ip>93.184.216.34</ip>", "ip_address", "93.184.216.34"),
        ("client=<93.184.216.34>", "ip_address", "93.184.216.34"),
        ("from <ip>93.184.216.34", "ip_address", "93.184.216.34"),
        # A password or a port after the colon is no SSH remote's path.
        ("alice.smith@gmail.com:Passw0rd!", "email", "alice.smith@gmail.com"),
        ("jane@example.com:8080", "email", "jane@example.com"),
        ("jane@example.com:8080/admin", "email", "jane@example.com"),
        # An address ends where a script written without spaces begins or gives way.
        ("请发邮件到jane@example.com", "email", "jane@example.com"),
        ("メールはjane@example.comまでお願いします", "email", "jane@example.com"),
        ("연락처는jane@example.com입니다", "email", "jane@example.com"),
        ("写信给用户jane@例子.广告", "email", "jane@例子.广告"),
    ],
)
def test_ordinary_pii_is_no_identifier_version_or_remote(text: str, entity: str, value: str) -> None:
    assert found(text) == [(entity, value)]


@pytest.mark.parametrize(
    "text",
    [
        "Tracking: 0012 3456 7890",
        "Ref 0012-3456-7890",
        "account 00123 45678 90",
        "call 0010 2345 6789",  # 1 is North America's code, but 0 starts no area code there
        "pin `types-requests<2.31.0.7`, `pkg>1.2.3.4`, `gem ~>4.3.2.1`, `^1.2.3.4`",
    ],
)
def test_no_country_code_after_00_and_version_operators_still_pass(text: str) -> None:
    assert found(text) == []


def test_an_address_in_cjk_prose_is_found_whole_however_streamed() -> None:
    text = "メールはjane@example.comまでお願いします。连接git@github.com:org/repo.git。"
    for size in (1, 2, 3, 7, 11):
        assert streamed(text, size) == "メールは[EMAIL_1]までお願いします。连接git@github.com:org/repo.git。"


def test_a_stream_holds_back_no_more_cjk_prose_than_a_local_part() -> None:
    prose = "メールはjane@example.comまでお願いします。" + "これは日本語の長い文章です" * 6
    redactor = StreamRedactor(SCANNER, Vault())
    out = redactor.feed(prose)
    assert out.startswith("メールは[EMAIL_1]までお願いします。これは")
    # No local part is over 64 octets (22 of these characters): the rest goes out at once.
    assert len(prose) - len("メールはjane@example.com") - (len(out) - len("メールは[EMAIL_1]")) <= 22
    assert out + redactor.close() == prose.replace("jane@example.com", "[EMAIL_1]")
