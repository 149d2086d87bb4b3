"""What an account's custom provider host means (addresses.py), the base-URL rule built on it, and
the resolver that checks what a name resolves to when the gateway connects (upstream_guard.py).

Security finding 3 (MEDIUM, SSRF): `https://0x7f000001/v1`, `https://localhost/v1`,
`https://0xa9fea9fe/latest` and the like were stored and reached. Every form below was accepted,
or refused without saying what it means, by the old rule."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from sluicegate.addresses import literal_address, non_public, opened_netlocs
from sluicegate.custom_providers import CustomProviderDirectory
from sluicegate.hosts import base_url_problem
from sluicegate.keys import KeyVault
from sluicegate.storage.base import CustomProvider
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.upstream_guard import AddressRefused, GuardedResolver

SETTING = "SLUICEGATE_ALLOWED_HOSTS"


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0x", "0.0.0.0"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("::ffff:7f00:1", "::ffff:7f00:1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_numeric_hosts_are_read_as_the_resolver_reads_them(host: str, address: str) -> None:
    assert str(literal_address(host)) == address


@pytest.mark.parametrize("host", ["llm.example.com", "llm.example.com.", "localhost", "vllm", "a.b-1.io"])
def test_names_are_no_addresses(host: str) -> None:
    assert literal_address(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "09.1.1.1", "256.1.1.1", "foo.1", "4294967296"])
def test_a_host_ending_in_a_number_that_is_no_address_is_an_error(host: str) -> None:
    with pytest.raises(ValueError, match=r"no IPv4 address|no number"):
        literal_address(host)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("255.255.255.255", "reserved"),
        ("198.18.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:0a00:0001::1", "private"),  # 6to4 of 10.0.0.1
        ("fd12:3456::1", "private (unique local)"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001::1", "reserved"),  # Teredo
        ("4000::1", "reserved"),  # outside global unicast
    ],
)
def test_non_public_addresses_name_their_kind(address: str, kind: str) -> None:
    parsed = IPv6Address(address) if ":" in address else IPv4Address(address)
    assert non_public(parsed) == kind


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2606:4700::1111"]
)
def test_public_addresses_pass(address: str) -> None:
    parsed = IPv6Address(address) if ":" in address else IPv4Address(address)
    assert non_public(parsed) is None


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://0x7f000001/v1", "loopback IP address 127.0.0.1 written another way"),
        ("https://localhost/v1", "'localhost' names the gateway's own machine"),
        ("https://LOCALHOST/v1", "'localhost' names the gateway's own machine"),
        ("https://localhost./v1", "names the gateway's own machine"),
        ("https://api.localhost/v1", "names the gateway's own machine"),
        ("https://0xa9fea9fe/latest", "link-local IP address 169.254.169.254 written another way"),
        ("https://127.0.0.1./v1", "is a loopback IP address"),
        ("https://2130706433/v1", "loopback IP address 127.0.0.1 written another way"),
        ("https://127.1/v1", "loopback IP address 127.0.0.1 written another way"),
        ("https://0177.0.0.1/v1", "loopback IP address 127.0.0.1 written another way"),
        ("https://0251.0376.0251.0376/v1", "link-local IP address 169.254.169.254 written another way"),
        ("https://[::1]/v1", "is a loopback IP address"),
        ("https://[::ffff:127.0.0.1]/v1", "loopback IP address (carrying 127.0.0.1)"),
        ("https://[::ffff:a9fe:a9fe]/v1", "link-local IP address (carrying 169.254.169.254)"),
        ("https://[fd00::1]/v1", "private (unique local) IP address"),
        ("https://[fe80::1]/v1", "link-local IP address"),
        ("https://100.64.0.1/v1", "shared (carrier-grade NAT) IP address"),
        ("https://0.0.0.0/v1", "unspecified IP address"),
        ("https://1.2.3.4.5/v1", "ends in a number but is no IP address"),
    ],
)
def test_each_form_of_a_private_address_is_refused_saying_what_it_means(url: str, said: str) -> None:
    problem = base_url_problem(url, [])
    assert problem is not None
    assert said in problem
    if "ends in a number" not in said:
        assert f"only reachable when the operator lists it in {SETTING}" in problem


def test_an_opened_host_passes_in_any_case_and_with_a_trailing_dot_but_only_on_its_port() -> None:
    assert base_url_problem("http://localhost:29001/v1", ["LOCALHOST:29001"]) is None
    assert base_url_problem("http://localhost.:29001/v1", ["localhost:29001"]) is None
    assert base_url_problem("https://localhost/v1", ["localhost"]) is None
    assert base_url_problem("https://localhost/v1", ["localhost:29001"]) is not None
    assert base_url_problem("https://127.0.0.1/v1", ["127.0.0.1"]) is None
    # Only as listed: another spelling of a listed address is not what the operator wrote.
    assert "written another way" in (base_url_problem("https://0x7f000001/v1", ["127.0.0.1"]) or "")


def test_the_operator_opens_hosts_on_their_ports() -> None:
    assert opened_netlocs(["LLM.internal.", "localhost:29001", "[::1]:8000", "bad:port"]) == {
        ("llm.internal", 80),
        ("llm.internal", 443),
        ("localhost", 29001),
        ("::1", 8000),
    }


async def test_a_provider_stored_before_the_rule_is_refused_when_used(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "sluicegate.db")
    await database.open()
    try:
        stored = CustomProvider.model_validate(
            {"id": "id-meta", "account": "local", "slug": "meta", "name": "meta",
             "base_url": "https://0xa9fea9fe/latest", "created_at": 1.0, "modified_at": 1.0}
        )  # fmt: skip
        await database.create_custom_provider(stored, None)
        directory = CustomProviderDirectory(database, KeyVault("master-key-for-tests"), [])
        refusal = (await directory.providers("local"))["custom-meta"].refusal
    finally:
        await database.close()
    assert refusal is not None
    assert "link-local IP address 169.254.169.254" in refusal


async def test_the_resolver_refuses_a_name_that_resolves_to_loopback_unless_opened() -> None:
    guarded = GuardedResolver([])
    with pytest.raises(AddressRefused) as refused:
        await guarded.resolve("localhost", 443)
    message = refused.value.refusal().message
    assert "'localhost' resolves to an address that is not public" in message
    assert "127.0.0.1" not in message
    assert "443" not in message
    assert SETTING in message
    opened = GuardedResolver(["localhost:443"])
    found = await opened.resolve("localhost", 443)
    assert {r["host"] for r in found} & {"127.0.0.1", "::1"}
    with pytest.raises(AddressRefused):
        await opened.resolve("localhost", 8443)  # opened on 443 only
    # A literal is the resolver's too when the client hands it one (aiohttp resolves 0x7f000001).
    with pytest.raises(AddressRefused):
        await guarded.resolve("0x7f000001", 443)
