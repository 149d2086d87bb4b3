"""A dynamic route stored in a form the gateway cannot use (stored by an older version, or edited
in the database) is the operator's problem, not the client's: a request naming it gets a 500
`route_misconfigured` that names the route but none of its configuration, and the gateway's admin
read lists the route's problems in `route_errors` (review of d74b1fc: it was a 400 `invalid_route`
that blamed the client, showed config paths, and told the operator nothing)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

SETTINGS = "/api/v1/accounts/local/gateways/default"
MESSAGES: Any = [{"role": "user", "content": "hello"}]
BROKEN = {"fallback": [{"model": "openai/gpt-4o-mini"}, {"modle": "openai/gpt-4o"}]}


def store_route(gateway: RunningGateway, name: str, node: Any) -> None:
    """Write a route into the stored settings as the admin API never would."""
    database = sqlite3.connect(gateway.settings.data_dir / "sluicegate.db")
    try:
        (text,) = database.execute("SELECT settings FROM gateways WHERE slug = 'default'").fetchone()
        settings = json.loads(text)
        settings.setdefault("routes", {})[name] = node
        database.execute("UPDATE gateways SET settings = ? WHERE slug = 'default'", (json.dumps(settings),))
        database.commit()
    finally:
        database.close()


def test_a_stored_route_that_cannot_be_parsed_is_the_gateways_500_and_shown_to_the_operator(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    with FakeOpenAI().serve() as fake:
        gateway = make_gateway(upstreams={"openai": fake.base_url})
        routes = {"fast": {"model": "openai/gpt-4o-mini"}, "spare": {"model": "openai/gpt-4o-mini"}}
        assert gateway.http.patch(SETTINGS, json={"settings": {"routes": routes}}).status_code == 200
        assert gateway.http.get(SETTINGS).json()["route_errors"] == {}
        with openai.OpenAI(
            base_url=gateway.provider_url("compat"), api_key="sk-provider", max_retries=0
        ) as client:
            assert (
                client.chat.completions.create(model="dynamic/spare", messages=MESSAGES).model
                == "gpt-4o-mini"
            )

            store_route(gateway, "spare", BROKEN)

            deadline = time.monotonic() + 10
            while True:  # until the gateway's next read of its settings (about a second)
                try:
                    client.chat.completions.create(model="dynamic/spare", messages=MESSAGES)
                except openai.APIStatusError as error:
                    refused = error
                    break
                assert time.monotonic() < deadline, "the stored change was never read"
            assert refused.status_code == 500
            body = refused.response.json()["error"]
            assert body["code"] == "route_misconfigured"
            assert body["route"] == "spare"
            assert "'spare'" in body["message"]
            assert "modle" not in refused.response.text
            assert "routes." not in refused.response.text

            # The other route still works; the operator sees what is wrong with this one.
            assert (
                client.chat.completions.create(model="dynamic/fast", messages=MESSAGES).model == "gpt-4o-mini"
            )
            shown = gateway.http.get(SETTINGS).json()
            assert list(shown["route_errors"]) == ["spare"]
            assert "routes.spare.fallback[1]" in shown["route_errors"]["spare"]
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="dynamic/spare", messages=MESSAGES)


@pytest.mark.parametrize("weight", ["50", True])
def test_a_stored_weight_an_older_version_took_still_serves_though_saving_it_is_refused(
    make_gateway: Callable[..., RunningGateway], weight: Any
) -> None:
    """Before weights had to be JSON numbers (01b612d), "50" and true were taken and saved. A route
    stored so still serves after the upgrade (it was a 500 route_misconfigured on every request);
    saving one anew is refused, and saving other routes beside it is not."""
    with FakeOpenAI().serve() as fake:
        gateway = make_gateway(upstreams={"openai": fake.base_url})
        split = {"split": [{"weight": weight, "then": {"model": "openai/gpt-4o-mini"}}]}
        store_route(gateway, "old", split)
        with openai.OpenAI(
            base_url=gateway.provider_url("compat"), api_key="sk-provider", max_retries=0
        ) as client:
            deadline = time.monotonic() + 10
            while True:  # until the gateway's next read of its settings (about a second)
                try:
                    answer = client.chat.completions.create(model="dynamic/old", messages=MESSAGES)
                    break
                except openai.BadRequestError as error:  # not read yet: no such route
                    unread = error.message
                assert "has no route 'old'" in unread, unread
                assert time.monotonic() < deadline, "the stored change was never read"
            assert answer.model == "gpt-4o-mini"
            assert gateway.http.get(SETTINGS).json()["route_errors"] == {}

            fast = gateway.http.put(f"{SETTINGS}/routes/fast", json={"model": "openai/gpt-4o-mini"})
            assert fast.status_code == 200, fast.text
            assert gateway.http.get(SETTINGS).json()["settings"]["routes"]["old"] == split  # kept as stored
            assert (
                client.chat.completions.create(model="dynamic/old", messages=MESSAGES).model == "gpt-4o-mini"
            )

            refused = gateway.http.put(f"{SETTINGS}/routes/again", json=split)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["field"] == "routes.again.split[0].weight"
