"""create_app: builds every object once, wires them into the routes, and owns their lifespan."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from sluicegate.compat import TARGETS
from sluicegate.config import Settings
from sluicegate.directory import GatewayDirectory
from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.proxy import ProxyEndpoint
from sluicegate.logbook import Logbook
from sluicegate.pipeline import build_pipeline
from sluicegate.pipeline.cache import ResponseCache
from sluicegate.pipeline.compat import compat_planner
from sluicegate.pipeline.forward import Forwarder
from sluicegate.pipeline.log import Log
from sluicegate.pipeline.ratelimit import RateLimit
from sluicegate.pipeline.resolve import Resolve
from sluicegate.pipeline.retry import Attempts
from sluicegate.pipeline.steps import provider_planner, universal_planner
from sluicegate.providers import registry
from sluicegate.records import RecordBuilder
from sluicegate.routes import add_routes
from sluicegate.storage import create_cache, create_database, create_limiter
from sluicegate.upstream import Upstream
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter


def create_app(settings: Settings, clock: Callable[[], float] = time.time) -> web.Application:
    """The gateway application. `clock` (epoch seconds) is injectable so tests can expire TTLs."""
    database = create_database(settings.resolved_database_url)
    cache = create_cache(settings, database)
    limiter = create_limiter(settings)
    rate_limit = RateLimit(limiter, fail_open=settings.rate_limit_failure == "open", clock=clock)
    directory = GatewayDirectory(database)
    upstream = Upstream(connect_timeout=settings.connect_timeout)
    records = RecordBuilder(TokenCounter(), PriceTable(), body_limit=settings.log_body_limit)
    logbook = Logbook(
        database,
        records.build,
        batch_size=settings.log_batch_size,
        interval=settings.log_flush_interval,
        after=[rate_limit.charge_usage],
    )
    providers = registry(settings.custom_providers)
    planners = {
        "provider": provider_planner(providers),
        "universal": universal_planner(providers),
        "compat": compat_planner(providers, TARGETS),
    }
    forwarder = Forwarder(upstream, settings.upstreams, exchange_timeout=settings.upstream_timeout)
    pipeline = build_pipeline(
        [
            Log(logbook, tee_limit=settings.max_body_bytes),
            Resolve(directory, planners),
            ResponseCache(
                cache,
                max_entry_bytes=settings.max_body_bytes,
                wait_timeout=settings.upstream_timeout,
                clock=clock,
            ),
            rate_limit,
        ],
        Attempts(forwarder, deadline=settings.upstream_timeout),
    )

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        await database.open()
        await cache.open()
        await limiter.open()
        await upstream.open()
        logbook.start()
        yield
        # aiohttp runs this after in-flight requests have finished, so the last records are in.
        await logbook.close()
        await upstream.close()
        await cache.close()
        await limiter.close()
        await database.close()

    app = web.Application(client_max_size=settings.max_body_bytes)
    app.cleanup_ctx.append(lifespan)
    add_routes(
        app,
        proxy=ProxyEndpoint(pipeline, max_body_bytes=settings.max_body_bytes),
        admin=AdminApi(database, directory, cache),
    )
    return app
