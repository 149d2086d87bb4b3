"""How every feature that uses Redis reaches it, and what an outage costs a request.

A process has one `RedisConnection` (`connect_redis` in `storage/__init__.py` parses `cache_url`
once): one client and connection pool for `redis://host:port/db?prefix=…`. The exact cache, the
rate-limit and budget counters, the routing state (circuits, key health) and the semantic cache's
feed each hold a `RedisLink` over it: the key prefix of that feature and whether Redis answered it
lately. When Redis is down, what a request gets is the feature's policy (see
docs/durability.md): the link only makes the failure fast and the recovery automatic.

- Fast: one retry without backoff after a connection error or a connect that timed out (a pooled
  connection a restarted server has closed is replaced at once), connecting waits at most
  `CONNECT_TIMEOUT`, an answer at most `READ_TIMEOUT`; and after a failure, the link does not try
  Redis again for `PAUSE` seconds: meanwhile each call fails at once, so an unreachable host (one
  that drops packets, or a server that hangs) does not cost every request a timeout. After the
  pause one call tries Redis again; while it is on its way, every other call fails at once too
  (and `check` tells a batch not to queue behind it), so a hung Redis costs one call a timeout per
  pause, not every call that arrives meanwhile.
- Counted once: a command whose answer timed out is not sent again. Redis may have run it, and a
  counting script run twice counts a request twice (redis-py retries every timeout alike, so a
  connect that timed out is raised as `ConnectTimedOut`, a connection error, and only those retry).
  A connection lost while the answer was on its way is still retried (redis-py does not say when
  it was lost, and a pooled connection a restarted server closed shows up there too): that rare
  case can count once more.
- Automatic: the first call after the pause reconnects; nothing waits for an operator. The link
  logs once when Redis goes away and once when it is back, not once per request.

Redis 6.0 or later: redis-py 8 opens each connection with HELLO 3 (RESP3), which Redis 6 added;
before it, the lease scripts read TIME before they write (allowed since Redis 5 replicates a
script's effects, not the script) and the semantic feed is a stream (Redis 5). An older Redis
refuses the handshake, which without a check reads as an outage that never ends: at start, a
Redis that answers is asked its version once (INFO server), and one that is older, or refuses
HELLO, keeps the server from starting. One that is down at start is not asked.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sluicegate.startup import StartupError

CONNECT_TIMEOUT = 0.5  # seconds
READ_TIMEOUT = 2.0  # seconds; above the semantic feed's blocking read of 1 s
PAUSE = 1.0  # seconds without trying Redis after a failure
# Connections the shared pool may open: what the four features' pools of their own allowed
# together (redis-py's default is 100 each). Past it a call fails at once ("Too many connections"),
# and a request's limiter call, cache lookup and the feed's blocking read all draw on the pool.
MAX_CONNECTIONS = 400
DEFAULT_PREFIX = "sluicegate:"
MIN_VERSION = (6, 0)
_log = logging.getLogger(__name__)


class ConnectTimedOut(redis.ConnectionError):
    """Connecting (or its handshake) timed out: no command was sent, so sending it again is safe."""


class _ConnectTimeoutIsConnectionError:
    """Mixed into the pool's connection class: redis-py raises the same `TimeoutError` for a
    connect and for an answer that timed out; only the first may be retried."""

    async def connect_check_health(self, *args: object, **kwargs: object) -> None:
        try:
            await super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
        except redis.TimeoutError as exc:
            raise ConnectTimedOut(str(exc)) from exc


class RedisConnection:
    """The process's client for one Redis URL, shared by every feature; `prefix` is the URL's
    `prefix` parameter (default `sluicegate:`), under which every feature's keys live."""

    def __init__(self, url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        self.prefix = query.get("prefix", [DEFAULT_PREFIX])[0]
        self.client = redis.Redis.from_url(
            url.split("?", 1)[0],
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            max_connections=MAX_CONNECTIONS,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=READ_TIMEOUT,
        )
        pool = self.client.connection_pool
        base: type[AbstractConnection] = pool.connection_class  # TCP, TLS or Unix socket, by the URL
        pool.connection_class = type(base.__name__, (_ConnectTimeoutIsConnectionError, base), {})
        self._version_checked = False

    async def check_version(self) -> None:
        """Once: a StartupError when Redis refuses the connection's HELLO or says it is older than
        `MIN_VERSION`. A Redis that will not say (INFO renamed or refused, as some hosted ones do)
        or says something else is taken."""
        if self._version_checked:
            return
        needs = f"Sluicegate needs Redis {'.'.join(map(str, MIN_VERSION))} or later"
        try:
            info = await self.client.info("server")
        except redis.ResponseError as exc:
            if "HELLO" in str(exc):  # the handshake: "unknown command `HELLO`"
                raise StartupError(
                    f"Redis at {self._where()} does not know HELLO (older than 6.0); {needs}"
                ) from None
            info = {}
        self._version_checked = True
        version = str(info.get("redis_version", ""))
        if _release(version) < MIN_VERSION:
            raise StartupError(f"Redis at {self._where()} is version {version}; {needs}")

    def _where(self) -> str:
        """host:port (or the socket's path), never the URL's password."""
        options = self.client.connection_pool.connection_kwargs
        return str(options.get("path") or f"{options.get('host')}:{options.get('port')}")

    async def close(self) -> None:
        await self.client.aclose()


def _release(version: str) -> tuple[int, ...]:
    """(major, minor) of `4.0.14`; anything unreadable counts as new enough."""
    try:
        return tuple(int(part) for part in [*version.split("."), "0"][:2])
    except ValueError:
        return MIN_VERSION


class RedisLink:
    """One feature's (`section`, e.g. `cache:`) use of the shared client, and whether Redis
    answered it lately. Given a URL instead of a connection (a feature used on its own, as in
    tests), the link opens a client of its own and closes it with itself."""

    def __init__(
        self, connection: RedisConnection | str, section: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(connection, str):
            connection = RedisConnection(connection)
            self._owned: RedisConnection | None = connection
        else:
            self._owned = None
        self.prefix = connection.prefix + section
        self.client = connection.client
        self._connection = connection
        self._feature = section.rstrip(":")
        self._clock = clock
        self._paused_until = 0.0
        self._trying = False  # down, and one call is trying Redis again
        self.down = False
        self.failures = 0  # calls that found Redis unreachable (exported as a metric)

    def check(self, unavailable: Callable[[str], Exception]) -> None:
        """Raises `unavailable` at once while Redis is known unreachable and not to be tried now:
        paused after a failure, or another call is trying it again."""
        if not self.down:
            return
        if self._trying:
            self.failures += 1
            raise unavailable("Redis is unreachable (another call is trying it again)")
        if self._clock() < self._paused_until:
            self.failures += 1
            raise unavailable(f"Redis is unreachable (next try within {PAUSE:g} s)")

    @contextlib.contextmanager
    def attempt(self, unavailable: type[Exception]) -> Iterator[None]:
        """Run the Redis calls inside; an unreachable Redis raises `unavailable` (the feature's own
        exception, which its policy catches), at once while paused after a failure or while
        another call tries it again (`check`). Once down, a call that gets through is that try."""
        self.check(unavailable)
        trying = self.down
        if trying:
            self._trying = True
        try:
            yield
        except (redis.RedisError, OSError) as exc:
            self.failures += 1
            self._paused_until = self._clock() + PAUSE
            if not self.down:
                self.down = True
                _log.error(
                    "Redis unreachable (%s): %s; its outage policy applies until it is back",
                    self._feature,
                    exc,
                )
            raise unavailable(f"Redis: {exc}") from exc
        finally:
            if trying:
                self._trying = False
        if self.down:
            self.down = False
            _log.warning("Redis reachable again (%s)", self._feature)

    async def probe(self, unavailable: type[Exception]) -> None:
        """At start: a gateway starts without Redis (its features follow their outage policy), but
        not with a Redis too old for it (a StartupError)."""
        with contextlib.suppress(unavailable), self.attempt(unavailable):
            await self._connection.check_version()  # (connecting: a HELLO refused is a ping refused)
            await self.client.ping()

    async def close(self) -> None:
        """Closes the client only when the link opened it: a shared one is closed by its owner."""
        if self._owned is not None:
            await self._owned.close()
