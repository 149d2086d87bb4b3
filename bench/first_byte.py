"""A one-connection HTTP/1.1 client that times the first byte of an answer's body (no dependencies).

wrk reports whole responses only; a streaming client waits for the first SSE event before it can
show anything. :class:`FirstByteClient` sends a prebuilt request on one raw keep-alive socket
and times, from the request's first byte sent, when the body's first bytes arrived (for an SSE
answer: when the first ``data:`` had arrived) and when the answer ended (``Content-Length``, or the
chunked terminator ``0\\r\\n\\r\\n``). Every answer is read to its end before the next request; a
non-2xx answer, a closed connection or a malformed frame raises :class:`FirstByteError`.

``python -m bench.first_byte URL`` times a few requests against a running server by hand.
"""

from __future__ import annotations

import argparse
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.scenarios import DEFAULT_HEADERS, chat_body
from bench.timings import percentiles

HEADER_END = b"\r\n\r\n"
SSE_EVENT = b"data:"
RECV_BYTES = 65536


class FirstByteError(RuntimeError):
    """An answer that cannot be measured: non-2xx, connection lost, or not HTTP/1.1 keep-alive."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    #: Seconds from sending the request until the body's first bytes (an SSE answer's first
    #: ``data:``) had arrived.
    first_byte_s: float
    #: Seconds from sending the request until the answer's last byte had arrived.
    whole_s: float
    #: The body, de-chunked.
    body: bytes


def build_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A keep-alive ``POST`` of ``body`` to ``url`` as the bytes to send."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {path or '/'} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ChunkedBody:
    """A chunked body decoded as its bytes arrive, to see its first event before its end."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.done = False
        self._pending = bytearray()
        self._state = "size"  # size line, data, the CRLF after the data, trailers
        self._left = 0  # bytes of the current chunk's data still to come

    def feed(self, data: bytes) -> None:
        self._pending += data
        while not self.done and self._step():
            pass
        if self.done and self._pending:
            raise FirstByteError(f"{len(self._pending)} byte(s) after the chunked body's end")

    def _step(self) -> bool:
        """Consume one part of a frame from the pending bytes; False when it needs more of them."""
        pending = self._pending
        if self._state == "data":
            taken = pending[: self._left]
            self.body += taken
            self._left -= len(taken)
            del pending[: len(taken)]
            if self._left:
                return False
            self._state = "data-end"
            return True
        if self._state == "data-end":
            if len(pending) < 2:
                return False
            if pending[:2] != b"\r\n":
                raise FirstByteError(f"chunk data not followed by CRLF: {bytes(pending[:20])!r}")
            del pending[:2]
            self._state = "size"
            return True
        line_end = pending.find(b"\r\n")
        if line_end < 0:
            return False
        line = bytes(pending[:line_end])
        del pending[: line_end + 2]
        if self._state == "trailers":
            self.done = line == b""
            return True
        try:
            self._left = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise FirstByteError(f"bad chunk size line {line[:40]!r}") from None
        self._state = "data" if self._left else "trailers"
        return True


class FirstByteClient:
    """One keep-alive connection to ``host:port``; :meth:`ask` sends a request and times its answer."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.where = f"{host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise FirstByteError(f"cannot connect to {self.where}: {exc}") from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._received_at = 0.0  # perf_counter() when the last recv returned

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> FirstByteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ask(self, request: bytes, *, sse: bool) -> Answer:
        """Send ``request`` and read its answer to the end. ``sse``: the first byte is the body's
        first ``data:`` rather than its first byte of any kind."""
        marker = SSE_EVENT if sse else b""
        started = time.perf_counter()
        try:
            self._sock.sendall(request)
            head = bytearray()
            while (end := head.find(HEADER_END)) < 0:
                head += self._recv()
            status, headers = _parse_head(bytes(head[:end]))
            rest = bytes(head[end + len(HEADER_END) :])
            body, first = self._read_body(headers, rest, marker)
        except OSError as exc:
            raise FirstByteError(f"{self.where}: {exc}") from exc
        if not 200 <= status < 300:
            raise FirstByteError(f"{self.where} answered HTTP {status}: {body[:300]!r}")
        if headers.get("connection", "").lower() == "close":
            raise FirstByteError(f"{self.where} closed the connection after its answer (not keep-alive)")
        if first is None:
            raise FirstByteError(f"{self.where} answered no {marker.decode() or 'body'}: {body[:200]!r}")
        return Answer(status, first - started, self._received_at - started, body)

    def _read_body(self, headers: dict[str, str], rest: bytes, marker: bytes) -> tuple[bytes, float | None]:
        """(the body, read to its end from ``rest`` on; when its marker had arrived, or None)."""
        chunked = ChunkedBody() if "chunked" in headers.get("transfer-encoding", "").lower() else None
        if chunked is None and "content-length" not in headers:
            raise FirstByteError(f"{self.where} answered neither chunked nor with a Content-Length")
        length = 0 if chunked is not None else int(headers["content-length"])
        raw = bytearray()
        first: float | None = None
        data = rest
        while True:
            if chunked is not None:
                chunked.feed(data)
            else:
                raw += data
            body = chunked.body if chunked is not None else raw
            if first is None and body and marker in body:
                first = self._received_at
            ended = chunked.done if chunked is not None else len(raw) >= length
            if ended:
                break
            data = self._recv()
        if len(raw) > length:
            raise FirstByteError(f"{self.where} sent {len(raw) - length} byte(s) after its answer")
        return bytes(body), first

    def _recv(self) -> bytes:
        data = self._sock.recv(RECV_BYTES)
        self._received_at = time.perf_counter()
        if not data:
            raise FirstByteError(f"{self.where} closed the connection in the middle of an answer")
        return data


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if version != "HTTP/1.1":
        raise FirstByteError(f"not an HTTP/1.1 answer: {status_line[:80]!r}")
    try:
        status = int(rest.split(" ", 1)[0])
    except ValueError:
        raise FirstByteError(f"bad status line {status_line[:80]!r}") from None
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a chat completions URL, e.g. http://127.0.0.1:8001/v1/chat/completions")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    where = urlsplit(args.url)
    with FirstByteClient(where.hostname or "127.0.0.1", where.port or 80) as client:
        for label, body, sse in (("stream", chat_body(stream=True), True), ("plain", chat_body(), False)):
            request = build_request(args.url, body, DEFAULT_HEADERS)
            answers = [client.ask(request, sse=sse) for _ in range(args.requests)]
            first = percentiles([a.first_byte_s * 1000 for a in answers])
            whole = percentiles([a.whole_s * 1000 for a in answers])
            print(
                f"{label}: first byte p50 {first['p50_ms']:.3f} ms p99 {first['p99_ms']:.3f} ms; "
                f"whole p50 {whole['p50_ms']:.3f} ms p99 {whole['p99_ms']:.3f} ms ({args.requests} requests)"
            )


if __name__ == "__main__":
    main()
