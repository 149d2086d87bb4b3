"""Account custom providers at unit level: the base-URL rule, the headers that may be stored, and
the directory that keeps their lookups off the database (a real SQLite database, counting reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluicegate.custom_providers import (
    AccountProvider,
    CustomProviderDirectory,
    ProviderBook,
    seal_headers,
    sendable_headers,
)
from sluicegate.hosts import base_url_problem
from sluicegate.keys import KeyVault
from sluicegate.providers import REGISTRY
from sluicegate.storage.base import CustomProvider
from sluicegate.storage.sqlite import SqliteDatabase

VAULT = KeyVault("master-key-for-tests")


class CountingDatabase(SqliteDatabase):
    reads = 0

    async def custom_providers(self, account: str) -> list[tuple[CustomProvider, bytes | None]]:
        self.reads += 1
        return await super().custom_providers(account)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[CountingDatabase]:
    database = CountingDatabase(tmp_path / "sluicegate.db")
    await database.open()
    yield database
    await database.close()


def provider(slug: str = "vllm", **fields: object) -> CustomProvider:
    values: dict[str, object] = {
        "id": f"id-{slug}",
        "account": "local",
        "slug": slug,
        "name": slug,
        "base_url": "https://llm.example.com/v1",
        "created_at": 1.0,
        "modified_at": 1.0,
    }
    return CustomProvider.model_validate(values | fields)


@pytest.mark.parametrize(
    ("url", "allowed", "problem"),
    [
        ("https://llm.example.com/v1", [], None),
        ("http://llm.example.com/v1", [], "plain http is only allowed"),
        ("http://127.0.0.1:8000/v1", ["127.0.0.1:8000"], None),
        ("https://127.0.0.1/v1", [], "IP addresses and ports"),
        ("https://[::1]/v1", [], "IP addresses and ports"),
        ("https://llm.example.com:8443", [], "IP addresses and ports"),
        ("https://LLM.example.com:8443", ["llm.example.com:8443"], None),
        ("ftp://llm.example.com", [], "is not an http(s) URL"),
        ("llm.example.com/v1", [], "is not an http(s) URL"),
        ("https://key@llm.example.com", [], "credentials do not belong in the URL"),
        ("https://llm.example.com/v1?key=1", [], "no query or fragment"),
    ],
)
def test_base_urls_follow_the_allowed_hosts_rule(url: str, allowed: list[str], problem: str | None) -> None:
    found = base_url_problem(url, allowed)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"Host": "x"}, "'Host' is the gateway's own or set by it"),
        ({"cf-aig-authorization": "x"}, "the gateway's own"),
        ({"X-Key": "a\r\nInjected: yes"}, "holds a line break"),
        ({"two words": "x"}, "is not a valid HTTP header name"),
        ({"X-Big": "v" * 9000}, "more than 8192 bytes"),
    ],
)
def test_headers_that_cannot_be_sent_upstream_are_refused_by_name(
    headers: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        sendable_headers(headers)
    assert "Injected" not in str(refused.value)  # a value is never repeated: it may be a key


async def test_an_account_s_providers_are_read_once_per_ttl_and_again_after_a_change(
    database: CountingDatabase,
) -> None:
    await database.create_custom_provider(provider(), seal_headers(VAULT, {"X-Key": "secret-value"}))
    clock = Clock()
    directory = CustomProviderDirectory(database, VAULT, [], ttl=1.0, clock=clock)
    book = ProviderBook(REGISTRY, directory)

    found = await book.find("local", "custom-vllm")
    assert isinstance(found, AccountProvider)
    assert (found.default_base_url, found.headers, found.refusal) == (
        "https://llm.example.com/v1",
        (("X-Key", "secret-value"),),
        None,
    )
    assert "secret-value" not in repr(found)
    for _ in range(100):
        assert await book.find("local", "custom-vllm") is found
    assert await book.find("local", "openai") is REGISTRY["openai"]
    assert await book.find("local", "no-such-provider") is None  # not custom-…: never looked up
    assert database.reads == 1
    assert await book.find("acme", "custom-vllm") is None  # another account's: none of its own
    assert database.reads == 2

    # A change made elsewhere (another replica) shows once the entry expires (readthrough.py);
    # one made here is seen at once.
    await database.update_custom_provider(provider(enable=False), None)
    clock.now = 0.5
    assert await book.find("local", "custom-vllm") is found
    directory.forget("local")
    refreshed = await book.find("local", "custom-vllm")
    assert isinstance(refreshed, AccountProvider)
    assert refreshed.refusal is not None
    assert refreshed.refusal.startswith("the custom provider 'custom-vllm' is disabled (enable: false)")
    assert refreshed.headers == ()
    await database.delete_custom_provider("local", "id-vllm")
    directory.forget("local")
    assert await book.find("local", "custom-vllm") is None
    assert await book.names("local") == sorted(REGISTRY)
    assert database.reads == 4  # once per account, then after each change; the names came from memory


async def test_a_provider_that_can_no_longer_be_used_says_why(database: CountingDatabase) -> None:
    await database.create_custom_provider(provider("local-vllm", base_url="http://10.0.0.5:8000/v1"), None)
    await database.create_custom_provider(
        provider("rekeyed"), seal_headers(KeyVault("an-earlier-master-key"), {"X-Key": "v"})
    )
    opened = CustomProviderDirectory(database, VAULT, ["10.0.0.5:8000"])
    closed = CustomProviderDirectory(database, VAULT, [])
    assert (await opened.providers("local"))["custom-local-vllm"].refusal is None
    refusal = (await closed.providers("local"))["custom-local-vllm"].refusal
    assert refusal is not None
    assert "plain http is only allowed" in refusal
    rekeyed = (await opened.providers("local"))["custom-rekeyed"]
    assert rekeyed.headers == ()
    assert rekeyed.refusal is not None
    assert "sealed under another master key" in rekeyed.refusal
