"""HTTP/1.1 spoken by hand over a TCP socket, for requests no HTTP client would send, and a count
of the file descriptors and connections this process holds (the gateway runs in one of its threads).

A conversation sends its parts in order; between two parts it waits for the server's
`100 Continue` (the request carries `Expect: 100-continue`), so the later parts reach a handler
that is already reading the body instead of the parser that reads the head. It then reads every
response until the server closes (or says it will), or hangs up at once (`hang_up`) when the
request is incomplete on purpose and the server is right to wait for the rest.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sluicegate.spool import SUFFIX as SPOOL_SUFFIX

_STATUS = re.compile(rb"HTTP/(\d\.\d) (\d{3})[^\r\n]*\r\n")
ANSWER_TIMEOUT = 10.0  # far above any answer here; reaching it is the failure "server hung"


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; the last value of a repeated header
    body: bytes


@dataclass(frozen=True, slots=True)
class Transcript:
    responses: list[RawResponse]
    raw: bytes  # everything received, for messages and secret checks


def converse(
    port: int, parts: Sequence[bytes], *, hang_up: bool = False, reset: bool = False, leave_at: bytes = b""
) -> Transcript:
    """Send `parts` to 127.0.0.1:`port` and read the answers until the server closes.

    `hang_up`: close right after the last part (with a RST when `reset`), reading nothing more;
    with `leave_at`, only once what was received holds it (mid-answer).
    """
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT) as sock:
        for index, part in enumerate(parts):
            if index:
                received += _read_interim(sock)
                if not received.endswith(b"100 Continue\r\n\r\n"):
                    break  # a final answer instead of 100 Continue: the server will not read on
            if not _send(sock, part):
                break
        if hang_up:
            while leave_at and leave_at not in received and (chunk := _recv(sock)):
                received += chunk
            if reset:  # SO_LINGER 0: close() sends a RST instead of a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return Transcript(parse_responses(received), received)
        received += _read_to_close(sock, received)
    return Transcript(parse_responses(received), received)


def first_response(port: int, data: bytes) -> RawResponse | None:
    """Send `data` and return the first complete response, without waiting for the server to close."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall(data)
        received = b""
        while not (responses := parse_responses(received, complete_only=True)):
            chunk = sock.recv(65536)
            if not chunk:
                return None
            received += chunk
        return responses[0]


def parse_responses(data: bytes, complete_only: bool = False) -> list[RawResponse]:
    """The responses in `data`, in order (a truncated last one is kept unless `complete_only`)."""
    responses = []
    position = 0
    while match := _STATUS.match(data, position):
        head_end = data.find(b"\r\n\r\n", match.end() - 2)
        if head_end < 0:
            break
        headers = {}
        for line in data[match.end() : head_end].split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        status = int(match.group(2))
        body, position, complete = _body(data, head_end + 4, status, headers)
        if complete or not complete_only:
            responses.append(RawResponse(status, headers, body))
        if not complete:
            break
    return responses


def _body(data: bytes, start: int, status: int, headers: dict[str, str]) -> tuple[bytes, int, bool]:
    if 100 <= status < 200 or status in (204, 304):
        return b"", start, True
    if "content-length" in headers:
        end = start + int(headers["content-length"])
        return data[start:end], end, end <= len(data)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, position = b"", start
        while (line_end := data.find(b"\r\n", position)) >= 0:
            size = int(data[position:line_end].split(b";")[0], 16)
            if size == 0:
                end = data.find(b"\r\n\r\n", line_end - 2)
                return body, (end + 4 if end >= 0 else len(data)), end >= 0
            body += data[line_end + 2 : line_end + 2 + size]
            position = line_end + 2 + size + 2
        return body, len(data), False
    return data[start:], len(data), True  # delimited by the close


def _send(sock: socket.socket, data: bytes) -> bool:
    """False when the server closed first (it may answer a bad head before the rest arrives)."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def _read_interim(sock: socket.socket) -> bytes:
    """The server's next response head (`100 Continue`, or a final answer), or all until it closes."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = _recv(sock)
        if not chunk:
            break
        received += chunk
    return received


def _read_to_close(sock: socket.socket, before: bytes) -> bytes:
    """What follows `before` until the server closes, or has answered with `Connection: close`
    (it may linger a while, reading the rest of a body it did not want, before it closes)."""
    received = b""
    while not _closing(before + received) and (chunk := _recv(sock)):
        received += chunk
    return received


def _closing(received: bytes) -> bool:
    answered = parse_responses(received, complete_only=True)
    return bool(answered) and answered[-1].headers.get("connection", "").lower() == "close"


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:  # the server dropped the connection: what came before still counts
        return b""
    except TimeoutError as exc:
        raise AssertionError(f"the server neither answered nor closed within {ANSWER_TIMEOUT:g} s") from exc


def open_fds() -> int:
    """File descriptors open in this process: the test's, the gateway's and the fakes', but for
    the log spool's segments (it keeps one made ahead, which comes and goes with its drains)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed while listing
            continue
        count += not target.endswith(SPOOL_SUFFIX)
    return count


def connections_on(port: int) -> int:
    """TCP connections of this process whose local port is `port` (the listening socket excluded):
    on the gateway's port, the connections the gateway still holds open to clients."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed while listing
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if inode in inodes and int(local.rsplit(":", 1)[1], 16) == port and state != "0A":
                    count += 1
    return count


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes (closing is asynchronous on both ends)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
