"""A Redis server of an older version, as far as a client's start sees it: RESP2 over loopback,
answering PING, SELECT, ECHO and INFO (its `redis_version` as given) as Redis does, CLIENT SETINFO
(which Redis before 7.2 lacks) with Redis 5's syntax error, and any other command with Redis 5's
"unknown command", HELLO (Redis 6 added it) too unless `hello` (then it answers HELLO 3 as Redis 6
does, switching the connection to RESP3). Enough to see what a gateway does with a Redis too old
for it.
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType
from typing import BinaryIO, Self


class OldRedis:
    def __init__(self, version: str = "5.0.14", hello: bool = False) -> None:
        self.version = version
        self.hello = hello
        self.commands: list[list[bytes]] = []  # every command received, in order
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while (command := _read_command(self.rfile)) is not None:
                    fake.commands.append(command)
                    self.wfile.write(fake.answer(command))

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, command: list[bytes]) -> bytes:
        name = command[0].upper() if command else b""
        if name == b"PING":
            return b"+PONG\r\n"
        if name == b"SELECT":
            return b"+OK\r\n"
        if name == b"ECHO" and len(command) == 2:
            return _bulk(command[1])
        if name == b"INFO":
            return _bulk(f"# Server\r\nredis_version:{self.version}\r\nredis_mode:standalone\r\n".encode())
        if name == b"HELLO" and self.hello:
            fields = {b"server": b"redis", b"version": self.version.encode(), b"mode": b"standalone"}
            return (
                b"%%%d\r\n" % (len(fields) + 1)
                + b"".join(map(_bulk, _flat(fields)))
                + b"$5\r\nproto\r\n:3\r\n"
            )
        if name == b"CLIENT":
            return b"-ERR Syntax error, try CLIENT (LIST | KILL | GETNAME | SETNAME | PAUSE | REPLY)\r\n"
        first = b"`" + command[1] + b"`, " if len(command) > 1 else b""
        return b"-ERR unknown command `" + command[0] + b"`, with args beginning with: " + first + b"\r\n"


def _flat(fields: dict[bytes, bytes]) -> list[bytes]:
    return [part for pair in fields.items() for part in pair]


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _read_command(rfile: BinaryIO) -> list[bytes] | None:
    """One RESP array of bulk strings (what clients send), or None at the end of the connection."""
    try:
        header = rfile.readline()
        if not header.startswith(b"*"):
            return None
        parts = []
        for _ in range(int(header[1:])):
            length = int(rfile.readline()[1:])
            parts.append(rfile.read(length + 2)[:length])
    except (OSError, ValueError):
        return None
    return parts
