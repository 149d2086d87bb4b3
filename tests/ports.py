"""A free port for a server a test starts as a process of its own, which binds it after the test
chose it.

A port the kernel hands out for port 0 comes from the ephemeral range, the one every outgoing
connection takes its local port from: in a parallel test run, another test's client may take it
between the choosing and the binding, and the server then fails to start. Ports below that range
are taken only by listeners that ask for them by number.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20_000
_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A port below the ephemeral range that nothing listens on now (one from port 0 elsewhere)."""
    try:
        highest = int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux: any free port
        highest = 0
    for _ in range(100 if highest > LOWEST else 0):
        port = random.randrange(LOWEST, highest)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen
