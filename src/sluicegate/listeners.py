"""The listening sockets of `serve`, bound once by the process that `serve` started, before anything
else opens, and handed to its workers.

Binding here, without SO_REUSEPORT, is what makes a port already served an error: the workers of
`serve --workers N` used to bind with SO_REUSEPORT each, and so did the workers of a second
`serve --workers N` on the same port, which then silently took about half the first one's
connections (with its own database and tokens). A socket handed to the workers keeps the port this
process group's alone; the kernel queues connections on it and whichever worker is free accepts.

A socket is only bound here: it listens (takes connections) once the app has started (SockSite),
so a client never waits in a backlog nobody serves while the database opens.
"""

from __future__ import annotations

import errno
import socket

from sluicegate.startup import StartupError


def address_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_error(address: str, exc: OSError) -> StartupError:
    """The one line that says why `address` cannot be listened on."""
    if exc.errno == errno.EADDRINUSE:
        reason = "address already in use (another server listens there)"
    else:
        reason = (exc.strerror or str(exc)).lower()
    return StartupError(f"cannot listen on {address}: {reason}")


def bind(host: str, port: int) -> list[socket.socket]:
    """One socket per address `host` stands for (as asyncio's create_server binds: "" means every
    interface, IPv6 sockets IPv6 only), with SO_REUSEADDR (a restart must not wait for the last
    run's connections in TIME_WAIT) and without SO_REUSEPORT; StartupError if one cannot be bound."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {address_text(host, port)}: {exc.strerror}") from exc
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in bound:
            sock.close()
        raise listen_error(address_text(host, port), exc) from exc
    return bound
