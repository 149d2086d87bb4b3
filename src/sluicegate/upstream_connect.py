"""Whose fault a failed connection to an upstream is, as the client is told.

Most are the upstream's (502 `upstream_unreachable`: nothing listens, the name does not resolve, the
connection was reset). One is the gateway's own: this process is out of file descriptors (EMFILE,
the `ulimit -n` of the service; ENFILE, the host's table) or the kernel of socket memory (ENOBUFS,
ENOMEM), so it cannot open a socket, to that upstream or any other. That is a 503
`gateway_overloaded` with a short Retry-After: the SDKs retry it, `pipeline/retry.py` neither
retries nor falls back on it (the next provider fails the same way) and strikes no circuit.
"""

from __future__ import annotations

import errno
import logging
import time

import aiohttp

from sluicegate.errors import GatewayError, GatewayOverloaded, UpstreamUnreachable

_log = logging.getLogger(__name__)

# The errors asyncio's own server treats as running out of resources when accept() fails.
LOCAL_SHORTAGE = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
RETRY_AFTER_S = 1  # descriptors come back as answers in flight finish: a second or so
_WARN_EVERY_S = 60.0  # a burst refuses many requests: one line a minute says why
_warned_at: float | None = None

# What a client is told when an account's custom provider cannot be reached, whatever the cause (a
# name that does not resolve, nothing listening, a refused certificate): telling them apart would
# let an account admin map the internal network through its base URLs.
ACCOUNT_HOST_UNREACHABLE = (
    "cannot connect to the custom provider's host (its name does not resolve, nothing answers there,"
    " or its certificate is refused): check the provider's base_url"
)


def connect_failure(exc: aiohttp.ClientConnectorError, account_host: bool) -> GatewayError:
    """The error for a connection (or its name lookup) that failed: the gateway's own shortage
    (`GatewayOverloaded`), else the upstream's (`UpstreamUnreachable`)."""
    if exc.os_error.errno in LOCAL_SHORTAGE:
        return overloaded(exc.os_error)
    if account_host:  # one answer: which internal names exist is no account's to probe
        return UpstreamUnreachable(ACCOUNT_HOST_UNREACHABLE)
    return UpstreamUnreachable(f"cannot connect to the upstream: {exc.strerror or exc}")


def overloaded(cause: OSError) -> GatewayOverloaded:
    """The 503 for a socket this process could not open, warning (at most once a minute) in the
    gateway's log with the limit to raise."""
    global _warned_at
    now = time.monotonic()
    if _warned_at is None or now - _warned_at >= _WARN_EVERY_S:
        _warned_at = now
        _log.warning(
            "cannot open a connection to an upstream: %s; requests get 503 gateway_overloaded until"
            " descriptors are free (raise the open-files limit, ulimit -n / LimitNOFILE, now %s)",
            cause.strerror or cause,
            _open_files_limit(),
        )
    return GatewayOverloaded(
        f"the gateway is out of resources ({cause.strerror or cause}) and could not open a connection"
        " to the upstream; nothing was sent to it. Retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _open_files_limit() -> str:
    try:
        import resource  # (POSIX only)

        return str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ImportError, OSError, ValueError):
        return "unknown"
