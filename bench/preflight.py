"""Requests sent one at a time, outside the load: the pre-flight check before a target's runs, an
unchecked send (to store a cache entry first), the admin API calls that set a scenario's
settings, and the fake upstream's count of the requests it served."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from bench.endpoints import Endpoint
from bench.scenarios import Scenario


class PreflightError(RuntimeError):
    pass


def admin(gateway: Endpoint, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """One admin API call with the process's bootstrap token; its JSON answer."""
    if gateway.admin_token is None:
        raise PreflightError(f"{gateway.name} has no admin token")
    return admin_call(gateway.base_url, gateway.admin_token, method, path, payload)


def admin_call(
    base_url: str, token: str, method: str, path: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One admin API call to the gateway at `base_url` with `token`; its JSON answer."""
    data = orjson.dumps(payload) if payload is not None else None
    headers = {"Authorization": f"Bearer {token}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base_url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer: dict[str, Any] = orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise PreflightError(f"admin API {method} {path} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PreflightError(f"admin API {method} {path} failed: {exc}") from exc
    return answer


def logs_stored(base_url: str, token: str, timeout_s: float = 60.0, poll_s: float = 0.05) -> float | None:
    """Wait until the gateway's log spool holds no record waiting to be stored (its `/api/v1/status`;
    records still in memory reach the spool within a flush interval, which the caller waits out
    first). The seconds waited, or None after `timeout_s` (the backlog still not stored)."""
    started = time.monotonic()
    while True:
        spool = admin_call(base_url, token, "GET", "/api/v1/status")["log_spool"]
        if spool["backlog_records"] == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            return None
        time.sleep(poll_s)


def upstream_served(fake: Endpoint) -> int | None:
    """Requests a fake upstream has served so far (its GET /stats)."""
    try:
        with urllib.request.urlopen(fake.base_url + "/stats", timeout=5) as resp:
            stats = orjson.loads(resp.read())
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError):
        return None
    return int(stats.get("completions", 0)) + int(stats.get("streams", 0))


def send(url: str, scenario: Scenario, headers: dict[str, str]) -> None:
    """One request whose answer is not checked (e.g. to store a cache entry before a pre-flight)."""
    request = urllib.request.Request(url, data=scenario.body, headers=headers, method=scenario.method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise PreflightError(f"{scenario.name}: POST {url} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PreflightError(f"{scenario.name}: POST {url} failed: {exc}") from exc


def preflight(
    url: str, scenario: Scenario, headers: dict[str, str], expect: dict[str, str | None] | None = None
) -> None:
    """One request checked by hand before the load: 2xx, the right shape of answer, expected headers."""
    request = urllib.request.Request(url, data=scenario.body, headers=headers, method=scenario.method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status = resp.status
            content_type = resp.headers.get("Content-Type", "")
            answer_headers = {k.lower(): v for k, v in resp.headers.items()}
            body = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise PreflightError(f"{scenario.name}: POST {url} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PreflightError(f"{scenario.name}: POST {url} failed: {exc}") from exc
    if not 200 <= status < 300:
        raise PreflightError(f"{scenario.name}: POST {url} answered HTTP {status}")
    for name, wanted in (expect or {}).items():
        got = answer_headers.get(name.lower())
        if got is None or (wanted is not None and got.strip().lower() != wanted.lower()):
            raise PreflightError(
                f"{scenario.name}: POST {url} answered {name}: {got!r}, expected {wanted or 'the header'!r}"
            )
    if scenario.stream:
        if "text/event-stream" not in content_type or not body.rstrip().endswith(b"data: [DONE]"):
            raise PreflightError(
                f"{scenario.name}: POST {url} did not answer an SSE stream ending in [DONE] "
                f"(Content-Type {content_type!r}, last bytes {body[-120:]!r})"
            )
        if b'"usage":{' not in body:
            raise PreflightError(f"{scenario.name}: the stream from {url} carries no usage chunk")
        return
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PreflightError(f"{scenario.name}: POST {url} answered non-JSON: {body[:200]!r}") from exc
    if not isinstance(data, dict) or not data.get("choices") or "usage" not in data:
        raise PreflightError(
            f"{scenario.name}: POST {url} answered JSON without choices/usage: {body[:300]!r}"
        )
