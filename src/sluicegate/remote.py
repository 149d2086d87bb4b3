"""A running gateway as the CLI reaches it: its admin API, with a token.

The address is `--url`, else `SLUICEGATE_URL`, else the one `sluicegate serve` recorded in the data
directory while it runs (so a server started with `--port 9000` is found without saying so again),
else the configured host and port. The token is `--token`, else `SLUICEGATE_TOKEN`, else the
bootstrap `SLUICEGATE_ADMIN_TOKEN`; the CLI never sends a request without one.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

from sluicegate.config import Settings

ADDRESS_FILE = "server.url"  # in the data directory, while `sluicegate serve` runs
TIMEOUT = 30.0


class RemoteError(Exception):
    """The gateway could not be reached, or refused; the message says which and what to do."""


class StreamBroken(RemoteError):
    """A streamed answer stopped before its end (the connection dropped or timed out)."""


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server listening on `host`: a wildcard address
    is reached on loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def record_address(settings: Settings) -> Path:
    """Write where this server listens into its data directory, for the CLI; returns the file."""
    path = settings.data_dir / ADDRESS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(local_url(settings.host, settings.port) + "\n")
    return path


def forget_address(path: Path, settings: Settings) -> None:
    """Remove the recorded address, unless another server has recorded its own since."""
    try:
        if path.read_text().strip() == local_url(settings.host, settings.port):
            path.unlink()
    except OSError:
        pass


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    origin: str  # where the URL came from, for error messages


def find_gateway(url: str | None, settings: Settings) -> Target:
    """Where the running gateway is (see the module's docstring); `url` is --url or SLUICEGATE_URL."""
    if url:
        return Target(url.rstrip("/"), "--url / SLUICEGATE_URL")
    try:
        recorded = (settings.data_dir / ADDRESS_FILE).read_text().strip()
    except OSError:
        recorded = ""
    if recorded:
        return Target(
            recorded, f"recorded by `sluicegate serve` in {(settings.data_dir / ADDRESS_FILE).resolve()}"
        )
    return Target(local_url(settings.host, settings.port), "the configured host and port")


class Remote:
    def __init__(self, target: Target, token: str) -> None:
        self._target = target
        self._token = token

    def call(self, method: str, path: str, query: dict[str, str] | None = None, body: Any = None) -> Any:
        """The JSON answer of `method path` (sending `body` as JSON when given); `RemoteError` with
        the gateway's own message on a 4xx/5xx."""
        with self._open(method, path, query, body) as response:
            try:
                body = response.read()
            except (http.client.HTTPException, OSError) as exc:
                raise StreamBroken(f"the gateway's answer broke off: {exc!r}") from exc
        return json.loads(body) if body else None

    def lines(self, path: str, query: dict[str, str] | None = None) -> Iterator[bytes]:
        """The lines of a streamed GET answer (NDJSON) as they arrive, each ending in a newline;
        `StreamBroken` when the answer stops before its end (a cut-off line is not yielded)."""
        with self._open("GET", path, query) as response:
            try:
                while line := response.readline():
                    if not line.endswith(b"\n"):
                        raise StreamBroken("the gateway's answer broke off in the middle of a line")
                    yield line
            except (http.client.HTTPException, OSError) as exc:
                raise StreamBroken(f"the gateway's answer broke off: {exc!r}") from exc

    def _open(
        self, method: str, path: str, query: dict[str, str] | None, body: Any = None
    ) -> http.client.HTTPResponse:
        url = _address(self._target) + path + ("?" + urlencode(query) if query else "")
        headers = {"Authorization": f"Bearer {self._token}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = Request(url, data=data, method=method, headers=headers)
        try:
            response: http.client.HTTPResponse = urlopen(request, timeout=TIMEOUT)
        except HTTPError as exc:
            raise RemoteError(f"{exc.code} {_message(exc.read()) or exc.reason}") from exc
        except (ValueError, http.client.InvalidURL) as exc:  # a port that is no number, a space
            raise RemoteError(
                f"{self._target.origin}: {self._target.url!r} is not a usable URL: {exc}"
            ) from exc
        except (URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, URLError) else exc
            raise RemoteError(
                f"cannot reach the gateway at {self._target.url} ({self._target.origin}): {reason};"
                " pass --url or set SLUICEGATE_URL"
            ) from exc
        return response


def _address(target: Target) -> str:
    """The target's URL, when it is one the gateway can be reached at (http or https, with a host);
    else a `RemoteError` saying where it came from and what an address looks like."""
    try:
        parts = urlsplit(target.url)
    except ValueError:  # an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.scheme in ("http", "https") and parts.hostname:
        return target.url
    guess = ""
    if "://" not in target.url and target.url[:1].isalnum():  # `localhost:8787`: no scheme
        guess = f"; did you mean {'http://' + target.url!r}?"
    raise RemoteError(
        f"{target.origin}: {target.url!r} is not a gateway's URL: give http:// or https:// and a host,"
        f" e.g. http://127.0.0.1:8787{guess}"
    )


def _message(body: bytes) -> str | None:
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else None
