"""The gateway editor in Chromium: every setting of the API's schema is a form field whose saved
value is what the API returns; the API's 400 appears next to the field it names; provider keys
are write-only; the endpoint URLs and the openai snippet work as copied (issue 25)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest

from tests.browser.conftest import expect, sign_in
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route

GATEWAY = "/api/v1/accounts/local/gateways/default"
# Strings a schema cannot say how to make valid: an example per property name.
STRING_EXAMPLES: dict[str, Any] = {
    "name": "per-model tokens",
    "scope": "model",
    "redact_paths": ["messages.*.content", "metadata.user"],
    "redact_patterns": [r"[a-z0-9._%+-]+@example\.com"],
}
# Settings whose valid values the schema alone does not tell (written as the API returns them).
OBJECT_EXAMPLES: dict[str, Any] = {
    "routes": {"cheap": {"model": "openai/gpt-4o-mini"}},
    "guardrails": {
        "pii": {"action": "flag", "entities": ["email"], "direction": "request"},
        "custom": [],
        "prompt_injection": {"action": "flag"},
        "restore": False,
    },
}


def resolve(schemas: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with `$ref` followed and `anyOf [X, null]` read as X (nullable)."""
    kind = dict(prop)
    if "anyOf" in kind:
        others = [p for p in kind.pop("anyOf") if p.get("type") != "null"]
        assert len(others) == 1, f"teach this test the union {prop}"
        kind = {**kind, **others[0], "nullable": True}
    if "$ref" in kind:
        kind = {**schemas[kind.pop("$ref").rsplit("/", 1)[-1]], **kind}
    return kind


def changed(schemas: dict[str, Any], name: str, prop: dict[str, Any], current: Any) -> Any:
    """A valid value for the property that differs from `current`, derived from its schema."""
    if name in OBJECT_EXAMPLES:
        return OBJECT_EXAMPLES[name]
    kind = resolve(schemas, prop)
    if "enum" in kind:
        return next(choice for choice in kind["enum"] if choice != current)
    if kind.get("type") == "boolean":
        return not current
    if kind.get("type") in ("integer", "number"):
        low = kind.get("minimum", kind.get("exclusiveMinimum", 0) + 1)
        high = kind.get("maximum", low + 10_000)
        value = low + (high - low) * 0.37
        value = int(value) if kind["type"] == "integer" else round(value, 2)
        return value + 1 if value == current else value
    if kind.get("type") == "array":
        item = resolve(schemas, kind["items"])
        if item.get("type") == "object":
            return [
                {
                    key: changed(schemas, key, p, p.get("default"))
                    for key, p in item["properties"].items()
                    if not p.get("readOnly")  # a rule's counter: kept by the gateway, no cell
                }
            ]
    if kind.get("type") == "object" and "properties" in kind:  # a JSON field
        return {key: changed(schemas, key, p, p.get("default")) for key, p in kind["properties"].items()}
    assert name in STRING_EXAMPLES, f"teach this test a valid value for setting {name!r}: {kind}"
    return STRING_EXAMPLES[name]


def as_edited(stored: Any, entered: Any) -> Any:
    """`stored` with only the keys of its rows that were `entered` (the gateway adds a rule's counter)."""
    if isinstance(stored, list) and isinstance(entered, list) and all(isinstance(r, dict) for r in entered):
        return [{k: row[k] for k in typed} for row, typed in zip(stored, entered, strict=True)]
    return stored


def fill(field: Locator, schemas: dict[str, Any], prop: dict[str, Any], value: Any) -> None:
    """Enter `value` in a setting's field (or a cell of a row) as a person would."""
    kind = resolve(schemas, prop)
    if "enum" in kind:
        field.locator("select").select_option(str(value))
    elif kind.get("type") == "boolean":
        field.locator("input[type=checkbox]").set_checked(value)
    elif kind.get("type") in ("integer", "number", "string"):
        field.locator("input").fill(str(value))
    elif kind.get("type") == "object" and "properties" in kind:  # a nested group, maybe switched off
        switch = field.locator(f"input[name='{field_path(field).rpartition('.')[2]}.on']")
        if switch.count():
            switch.set_checked(value is not None)
        for key, member in (value or {}).items():
            fill(
                field.locator(f"[data-field='{field_path(field)}.{key}']"),
                schemas,
                kind["properties"][key],
                member,
            )
    elif kind.get("type") == "object":
        field.locator("textarea").fill(json.dumps(value))
    elif resolve(schemas, kind["items"]).get("type") == "object":
        item = resolve(schemas, kind["items"])
        for remove in field.locator("tbody button.remove").all()[::-1]:
            remove.click()
        for index, row in enumerate(value):
            field.locator("button.add").click()
            for key, cell_value in row.items():
                cell = field.locator(f"td[data-field='{field_path(field)}.{index}.{key}']")
                fill(cell, schemas, item["properties"][key], cell_value)
    else:
        for remove in field.locator(".list-item button.remove").all()[::-1]:
            remove.click()
        for index, text in enumerate(value):
            field.locator("button.add").click()
            field.locator(f"[data-field='{field_path(field)}.{index}'] input").fill(text)


def field_path(field: Locator) -> str:
    path = field.get_attribute("data-field")
    assert path
    return path


def open_editor(page: Page, gateway: RunningGateway, slug: str = "default") -> Locator:
    sign_in(page, gateway)
    page.click("nav >> text=Gateways")
    page.click(f"tr[data-slug={slug}] >> text=Edit")
    editor = page.locator(f"form[aria-label='Edit {slug}']")
    editor.wait_for()
    return editor


def save(page: Page, editor: Locator) -> Any:
    """Click Save; the PATCH the page sent, answered."""
    with page.expect_response(lambda r: r.request.method == "PATCH") as answer:
        editor.locator("button[type=submit]").click()
    return answer.value


def test_every_setting_changed_in_the_form_is_what_the_api_returns(
    page: Page, gateway: RunningGateway
) -> None:
    schemas = gateway.http.get("/api/v1/openapi.json").json()["components"]["schemas"]
    properties = {
        name: prop
        for name, prop in schemas["GatewaySettings"]["properties"].items()
        # readOnly: kept by the gateway, no field, never sent; routes: edited in the Routes card
        if not prop.get("readOnly") and name != "routes"
    }
    before = gateway.http.get(GATEWAY).json()["settings"]
    wanted = {name: changed(schemas, name, prop, before[name]) for name, prop in properties.items()}

    editor = open_editor(page, gateway)
    assert editor.locator("[data-field='settings.routes']").count() == 0
    for name, value in wanted.items():
        field = editor.locator(f"[data-field='settings.{name}']")
        assert field.count() == 1, f"the editor has no field for setting {name!r}"
        fill(field, schemas, properties[name], value)
    saved = save(page, editor)
    assert saved.status == 200, saved.text()
    assert set(saved.request.post_data_json["settings"]) == set(properties)  # each one changed

    after = gateway.http.get(GATEWAY).json()["settings"]
    for name, value in wanted.items():
        assert as_edited(after[name], value) == value, name
    # The editor shows again what the API returned (it is drawn anew after the toast): saving
    # that finds nothing to change, so every value survives the trip through the form.
    page.locator(".toast", has_text="Gateway default saved").wait_for()
    editor.locator("button[type=submit]").click()
    page.locator(".toast", has_text="Nothing changed").wait_for()


@pytest.mark.parametrize(
    ("entered", "field"),
    [
        ({"cache_ttl": 5}, "settings.cache_ttl"),
        ({"semantic_threshold": 1.5}, "settings.semantic_threshold"),
        ({"rate_limits": [{"limit": 10, "period": 0}]}, "settings.rate_limits.0.period"),
        ({"redact_patterns": ["(?<=secret)\\w+"]}, "settings.redact_patterns"),  # RE2 has no lookbehind
        (
            {"guardrails": {"pii": {"action": "block", "entities": ["email", "shoe_size"]}}},
            "settings.guardrails.pii.entities.1",
        ),
    ],
    ids=["number", "fraction", "row-cell", "re2-pattern", "nested-group"],
)
def test_an_invalid_value_shows_the_apis_message_next_to_its_field(
    page: Page, gateway: RunningGateway, entered: dict[str, Any], field: str
) -> None:
    schemas = gateway.http.get("/api/v1/openapi.json").json()["components"]["schemas"]
    properties = {
        name: prop
        for name, prop in schemas["GatewaySettings"]["properties"].items()
        if not prop.get("readOnly")  # kept by the gateway: no field, never sent
    }
    before = gateway.http.get(GATEWAY).json()["settings"]
    editor = open_editor(page, gateway)
    ((name, value),) = entered.items()
    if name == "rate_limits":
        value = [{**changed(schemas, "rule", properties[name], [])[0], **value[0]}]
    fill(editor.locator(f"[data-field='settings.{name}']"), schemas, properties[name], value)

    refused = save(page, editor)
    assert refused.status == 400
    error = refused.json()["error"]
    assert error["field"] == field
    shown = editor.locator(f"[data-field='{field}'] > .field-error")
    expect(shown).to_have_text(error["message"])
    assert editor.locator(".field-error:visible").count() == 1  # only there
    assert gateway.http.get(GATEWAY).json()["settings"] == before

    fill(editor.locator(f"[data-field='settings.{name}']"), schemas, properties[name], before[name])
    editor.locator("input[name=name]").fill("")
    refused = save(page, editor)
    assert refused.json()["error"]["field"] == "name"
    expect(editor.locator("[data-field=name] > .field-error")).to_have_text(
        refused.json()["error"]["message"]
    )
    assert editor.locator(".field-error:visible").count() == 1  # the earlier message is gone


def test_a_provider_key_is_write_only_and_shown_by_its_fingerprint(
    page: Page, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, secret_key="master-key-for-the-browser-test")
    secret = "sk-proj-stored-in-the-browser-0123456789"
    open_editor(page, gateway)
    editor_keys = page.locator("section[aria-label='Provider keys']")
    editor_keys.locator("select[name=key_provider]").select_option("openai")
    editor_keys.locator("input[name=provider_key]").fill(secret)
    editor_keys.locator("text=Store key").click()
    row = editor_keys.locator("tr[data-provider=openai]")
    row.wait_for()
    stored = gateway.http.get(GATEWAY + "/provider-keys").json()["result"]
    assert [k["provider"] for k in stored] == ["openai"]
    assert row.locator(".fingerprint").inner_text() == stored[0]["fingerprint"]
    assert editor_keys.locator("input[name=provider_key]").input_value() == ""
    assert secret not in page.content()

    # A request that brings no key of its own goes upstream with the stored one.
    answer = httpx.post(
        gateway.provider_url("openai") + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert answer.status_code == 200, answer.text
    assert fake.requests[-1].header("authorization") == f"Bearer {secret}"

    # A second, named key with a weight joins the pool; a disabled key can be enabled from its row.
    assert gateway.http.patch(GATEWAY + "/provider-keys/openai/default", json={"enabled": False}).is_success
    editor_keys.locator("input[name=key_name]").fill("spare")
    editor_keys.locator("input[name=key_weight]").fill("2.5")
    editor_keys.locator("input[name=provider_key]").fill(secret + "-spare")
    editor_keys.locator("text=Store key").click()
    spare = editor_keys.locator("tr[data-name=spare]")
    spare.wait_for()
    assert [
        (k["name"], k["weight"]) for k in gateway.http.get(GATEWAY + "/provider-keys").json()["result"]
    ] == [
        ("default", 1.0),
        ("spare", 2.5),
    ]
    default = editor_keys.locator("tr[data-name=default]")
    expect(default.locator(".key-state")).to_have_text("disabled (disabled through the admin API)")
    default.locator("text=Enable").click()
    expect(default.locator(".key-state")).to_have_text("ok")
    assert gateway.http.get(GATEWAY + "/provider-keys").json()["result"][0]["status"] == "ok"

    for name in ("spare", "default"):
        editor_keys.locator(f"tr[data-name={name}]").locator("text=Remove").click()
        editor_keys.locator(f"tr[data-name={name}]").wait_for(state="detached")
    assert gateway.http.get(GATEWAY + "/provider-keys").json()["result"] == []


def test_the_endpoint_url_and_openai_snippet_work_as_copied(
    page: Page, gateway: RunningGateway, fake: FakeOpenAI, tmp_path: Path
) -> None:
    assert gateway.http.patch(GATEWAY, json={"settings": {"authentication": True}}).status_code == 200
    runner = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"]})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    sign_in(page, gateway)
    page.click("nav >> text=Gateways")
    page.click("tr[data-slug=default] >> text=Endpoints")
    card = page.locator("section[aria-label=Endpoints]")
    openai_row = card.locator("tr[data-provider=openai]")
    assert openai_row.locator("td.url").inner_text() == gateway.provider_url("openai")
    openai_row.locator("button.copy").click()
    expect(openai_row.locator("button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == gateway.provider_url("openai")

    copy_snippet = card.locator(".snippet-head button.copy")
    copy_snippet.click()
    expect(copy_snippet).to_have_text("Copied")
    script = tmp_path / "snippet.py"
    script.write_text(page.evaluate("navigator.clipboard.readText()"))
    environment = {
        **os.environ,
        "OPENAI_API_KEY": "sk-from-the-environment",
        "SLUICEGATE_TOKEN": runner.json()["token"],
    }
    run = subprocess.run(
        [sys.executable, str(script)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "echo: Hello!"
    assert fake.requests[-1].header("authorization") == "Bearer sk-from-the-environment"
    record = gateway.wait_for_logs(1)[0]
    assert (record["provider"], record["model"], record["status"]) == ("openai", "gpt-4o-mini", 200)


def test_guardrails_are_edited_as_fields_and_switched_off_as_none(
    page: Page, gateway: RunningGateway
) -> None:
    editor = open_editor(page, gateway)
    guardrails = editor.locator("[data-field='settings.guardrails']")
    assert guardrails.locator("textarea").count() == 0  # fields, not JSON
    guardrails.locator("input[name='guardrails.on']").check()
    guardrails.locator("input[name='pii.on']").check()
    guardrails.locator("[data-field='settings.guardrails.pii.direction'] select").select_option("request")
    guardrails.locator("[data-field='settings.guardrails.restore'] input").check()
    saved = save(page, editor)
    assert saved.status == 200, saved.text()
    stored = gateway.http.get(GATEWAY).json()["settings"]["guardrails"]
    assert (stored["pii"]["direction"], stored["restore"], stored["prompt_injection"]) == (
        "request",
        True,
        None,
    )

    page.locator(".toast", has_text="Gateway default saved").wait_for()
    editor.locator("input[name='guardrails.on']").uncheck()
    assert save(page, editor).status == 200
    assert gateway.http.get(GATEWAY).json()["settings"]["guardrails"] is None


def test_a_setting_new_to_the_schema_gets_a_field_without_a_dashboard_change(
    page: Page, gateway: RunningGateway
) -> None:
    """The form follows the API's schema: a setting the dashboard has never heard of appears (an
    object as JSON, a number, both under "Other settings")."""

    def with_new_settings(route: Route) -> None:
        served = route.fetch()
        doc = served.json()
        properties = doc["components"]["schemas"]["GatewaySettings"]["properties"]
        properties["new_policy"] = {"type": "object", "default": {}, "description": "a policy (made up here)"}
        properties["new_knob"] = {"type": "integer", "minimum": 1, "default": 3, "description": "made up"}
        route.fulfill(response=served, json=doc)

    page.route("**/api/v1/openapi.json", with_new_settings)
    editor = open_editor(page, gateway)
    policy = editor.locator("fieldset[data-group='Other settings'] [data-field='settings.new_policy']")
    assert policy.locator("textarea").input_value() == "{}"
    knob = editor.locator("fieldset[data-group='Other settings'] [data-field='settings.new_knob']")
    assert knob.locator("input[type=number]").input_value() == "3"

    patches: list[str] = []
    page.on("request", lambda request: patches.append(request.url) if request.method == "PATCH" else None)
    policy.locator("textarea").fill('{"block": [')
    editor.locator("button[type=submit]").click()
    expect(policy.locator(".field-error")).to_contain_text("New policy: not valid JSON")
    assert patches == []  # the browser kept what it could not send

    policy.locator("textarea").fill('{"block": ["pii"]}')
    knob.locator("input").fill("5")
    refused = save(page, editor)
    error = refused.json()["error"]
    assert (refused.status, error["field"]) == (400, "settings.new_policy")  # this server has no such setting
    expect(policy.locator(".field-error")).to_have_text(error["message"])
