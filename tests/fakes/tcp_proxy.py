"""A TCP proxy on loopback that a test can cut and restore: a database that goes away and comes back.

While cut, the connections passing through are closed and new ones are accepted and closed at
once (a server that drops its connections), so a client fails fast rather than hanging. While
the replies of the connections open are held, what the server sends on them waits in the proxy (a
server that did the work and then stalled on those, or a network that did), and goes on when the
hold ends; new connections pass as usual. While stalled, nothing passes either way, on the
connections open and on new ones, which are accepted and held (a server that stopped answering
without closing anything, a frozen primary, a partition): a client waits until its own timeout, and
when the stall ends everything held goes on.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Self


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._flowing = threading.Event()  # clear while stalled
        self._flowing.set()
        self._passing: dict[socket.socket, threading.Event] = {}  # per server side: set, replies pass
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = False
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._accepting.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._closed = True
        self._flowing.set()
        self._listener.close()
        self._drop_all()

    @contextlib.contextmanager
    def cut(self) -> Iterator[None]:
        """Drop every connection and refuse new ones until the block ends."""
        self._cut.set()
        self._drop_all()
        try:
            yield
        finally:
            self._cut.clear()

    @contextlib.contextmanager
    def stalled(self) -> Iterator[None]:
        """Hold every byte, both ways, on every connection, and accept new ones without connecting
        them on, until the block ends."""
        self._flowing.clear()
        try:
            yield
        finally:
            self._flowing.set()

    @contextlib.contextmanager
    def holding_replies(self) -> Iterator[None]:
        """Forward requests but hold the server's replies on the connections open now until the
        block ends."""
        with self._lock:
            held = list(self._passing.values())
        for passing in held:
            passing.clear()
        try:
            yield
        finally:
            for passing in held:
                passing.set()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            with self._lock:
                self._open.add(client)  # so a cut meanwhile closes it
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()  # a stalled server has accepted, and says nothing
        if self._cut.is_set() or self._closed:
            client.close()
            return
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        passing = threading.Event()
        passing.set()
        with self._lock:
            self._open.update((client, upstream))
            self._passing[upstream] = passing
        for source, sink, gate in ((client, upstream, None), (upstream, client, passing)):
            threading.Thread(target=self._pump, args=(source, sink, gate), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, gate: threading.Event | None) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                if gate is not None:
                    gate.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._open.discard(sock)
                self._passing.pop(sock, None)

    def _drop_all(self) -> None:
        with self._lock:
            sockets = list(self._open)
        self._drop(*sockets)
