"""create_app: builds every object once, wires them into the routes, and owns their lifespan."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from sluicegate.app_logs import log_writer
from sluicegate.compat import compat_targets
from sluicegate.config import Settings
from sluicegate.custom_providers import CustomProviderDirectory, ProviderBook
from sluicegate.datafiles import private_directory
from sluicegate.directory import GatewayDirectory
from sluicegate.embeddings.local import LocalEmbedder
from sluicegate.endpoints.access import AccessApi
from sluicegate.endpoints.admin import AdminApi
from sluicegate.endpoints.body import BODY_LIMITS, WAITING_BODIES, BodyLimits, stop_waiting
from sluicegate.endpoints.custom_providers import CustomProviderApi
from sluicegate.endpoints.export import LogExport
from sluicegate.endpoints.guard import Guard
from sluicegate.endpoints.proxy import COMPAT, REALTIME, UNIVERSAL, ProxyEndpoint, close_uninvited
from sluicegate.endpoints.realtime import RealtimeEndpoint
from sluicegate.endpoints.refusals import answer_refusals
from sluicegate.endpoints.route_api import RouteApi
from sluicegate.endpoints.status import StatusEndpoint
from sluicegate.endpoints.system import HealthEndpoint, MetricsEndpoint
from sluicegate.endpoints.universal_socket import UniversalSockets
from sluicegate.endpoints.urls import GatewayUrls
from sluicegate.gateway import DEFAULT_ACCOUNT
from sluicegate.hosts import HostMap
from sluicegate.ingress import format_at
from sluicegate.keys import KeyDirectory, KeyVault
from sluicegate.metrics import Metrics
from sluicegate.otlp_logs import OtlpLogs
from sluicegate.outcome.estimate import Estimator
from sluicegate.outcome.meter import Meter
from sluicegate.outcome.outcomes import Outcomes
from sluicegate.outcome.pricing import Pricing
from sluicegate.pipeline import build_pipeline
from sluicegate.pipeline.admit_ahead import AdmitAhead
from sluicegate.pipeline.allowlist import AllowList
from sluicegate.pipeline.auth import Authenticate
from sluicegate.pipeline.cache import ResponseCache
from sluicegate.pipeline.circuits import TargetCircuits
from sluicegate.pipeline.compat import compat_planner
from sluicegate.pipeline.dynamic import DynamicRoutes
from sluicegate.pipeline.forward import Forwarder
from sluicegate.pipeline.guardrails import Guardrails
from sluicegate.pipeline.ingress import Ingress
from sluicegate.pipeline.jobs import RunningJobs
from sluicegate.pipeline.keys import InjectKeys, StepKeys
from sluicegate.pipeline.log import Log
from sluicegate.pipeline.ratelimit import RateLimit
from sluicegate.pipeline.resolve import Plan, Resolve
from sluicegate.pipeline.response_items import ResponseItems
from sluicegate.pipeline.retry import Attempts
from sluicegate.pipeline.semantic import SemanticCache
from sluicegate.pipeline.steps import host_planner, provider_planner, realtime_planner, universal_planner
from sluicegate.pipeline.token_count import TokenCount
from sluicegate.pipeline.workers_ai_account import WorkersAIAccount
from sluicegate.providers import registry
from sluicegate.realtime.relay import RealtimeRelay
from sluicegate.retention import Retention
from sluicegate.routes import add_routes
from sluicegate.routing.circuit import CircuitBreaker
from sluicegate.routing.keypool import KeyPools
from sluicegate.routing.redis_state import create_state_store
from sluicegate.semantic.feed import VectorFeed
from sluicegate.semantic.index import VectorIndex
from sluicegate.semantic.verify import load_verifier
from sluicegate.shutdown import STOP_CUT, StopCut, close_within
from sluicegate.startup import data_files, open_database
from sluicegate.storage import (
    connect_redis,
    create_cache,
    create_cache_admission,
    create_database,
    create_limiter,
)
from sluicegate.storage.cache import Cache, MemoryCache
from sluicegate.storage.counted_once import counted_once
from sluicegate.storage.redis_link import RedisConnection
from sluicegate.storage.response_items import item_store
from sluicegate.tokens import TokenDirectory, ensure_admin_token
from sluicegate.tracing import Tracing
from sluicegate.upstream import Upstream
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter

METRICS = web.AppKey("sluicegate_metrics", Metrics)  # `serve --workers N` joins them up (metrics_group.py)


def create_semantic_cache(
    settings: Settings,
    cache: Cache,
    redis: RedisConnection | None,
    clock: Callable[[], float],
    counter: TokenCounter | None = None,
) -> SemanticCache:
    """The semantic cache's parts: the packaged embedding model and verifier load in `warm_up`."""
    embedder = LocalEmbedder()
    private_directory(settings.data_dir)
    index = VectorIndex.open(settings.data_dir / "semantic.vectors", embedder.name, embedder.dimensions)
    feed = VectorFeed(redis, index, clock) if redis is not None else None
    return SemanticCache(
        embedder,
        index,
        functools.cache(load_verifier),
        cache,
        clock,
        feed,
        max_entry_bytes=settings.limits.cache_entry_bytes,
        counter=counter,
    )


def create_app(
    settings: Settings, clock: Callable[[], float] = time.time, workers: int = 1
) -> web.Application:
    """The gateway application. `clock` (epoch seconds) is injectable so tests can expire TTLs;
    `workers`: how many processes serve it (`serve --workers N`), each with an application of its own."""
    timeouts = settings.timeouts
    database = create_database(
        settings.resolved_database_url,
        statement_timeout=timeouts.database_statement,
        connect_timeout=timeouts.database_connect,
    )
    redis = connect_redis(settings)  # one client for every Redis feature below
    cache = create_cache(settings, database, redis)
    counter, pricing = TokenCounter(), Pricing(PriceTable())
    semantic = create_semantic_cache(settings, cache, redis, clock, counter)
    limiter = create_limiter(settings, redis, clock)
    route_state = create_state_store(redis)
    circuits = TargetCircuits(CircuitBreaker(route_state, clock=clock))
    key_pools = KeyPools(route_state, clock=clock)
    step_keys = StepKeys(key_pools)
    read_timeout = timeouts.database_read  # a request-path read the database does not answer: 503
    # Told of each gateway it reads: one whose semantic cache was turned on through another replica
    # warms the models up here too.
    warmed = [semantic.models.gateway_saved]
    directory = GatewayDirectory(database, read_timeout=read_timeout, watchers=warmed)
    tokens = TokenDirectory(database, clock, read_timeout=read_timeout)
    vault = KeyVault(settings.secret_key)
    keys = KeyDirectory(database, vault, read_timeout=read_timeout)
    customs = CustomProviderDirectory(database, vault, settings.allowed_hosts, read_timeout=read_timeout)
    # A compressed answer read whole decodes to at most what the gateway holds of an answer whole.
    whole_bytes = max(1 << 20, settings.limits.cache_entry_bytes)
    upstream = Upstream(
        connect_timeout=settings.timeouts.connect_timeout,
        whole_bytes=whole_bytes,
        allowed_hosts=settings.allowed_hosts,  # what account custom providers may reach privately
    )
    rate_limit = RateLimit(
        limiter,
        Estimator(counter, pricing),
        fail_open=settings.stores.rate_limit_failure == "open",
        clock=clock,
    )
    admission = create_cache_admission(redis, cache, limiter)
    tracing = Tracing(settings.telemetry.otlp_endpoint) if settings.telemetry.otlp_endpoint else None
    otlp_logs = (
        OtlpLogs(settings.telemetry.otlp_logs_endpoint) if settings.telemetry.otlp_logs_endpoint else None
    )
    providers = registry(settings.custom_providers)
    metrics = Metrics(
        limiter_failures=lambda: rate_limit.failures,
        semantic_entries=semantic.size,
        providers=[*providers, UNIVERSAL, COMPAT],
        models_per_provider=settings.telemetry.metrics_models_per_provider,
        circuits=lambda: circuits.seen,
        key_states=lambda: step_keys.seen,
        key_refusals=lambda: step_keys.refusals,
    )
    logbook, spool, links = log_writer(settings, database, otlp_logs, metrics, (cache, limiter, route_state))
    dynamic = DynamicRoutes(limiter, counter, clock, Estimator(counter, pricing))
    # Budget settlement first: it is what the next request of the same scope waits on.
    outcomes = Outcomes(
        Meter(counter, pricing),
        [
            rate_limit.settle,
            dynamic.charge,
            logbook.take,
            metrics.observe,
            *([tracing.observe] if tracing else []),
        ],
        counted_once(redis),  # a finished Replicate prediction's tokens, counted by the first read only
    )
    retention = Retention(database, clock, interval=settings.logs.retention_interval)
    hosts = HostMap(providers, settings.allowed_hosts, settings.host_overrides)
    book = ProviderBook(providers, customs)
    translated = compat_targets(providers)
    items = ResponseItems(item_store(settings, redis, clock))  # what Responses requests name by id
    compat = compat_planner(book, translated, dynamic, items)
    planners = {
        "provider": provider_planner(book),
        "universal": universal_planner(book, compat),  # a request whose one step is compat: compat's
        "compat": compat,
        "host": host_planner(hosts, compat=False),
        "host-compat": host_planner(hosts, compat=True),
        REALTIME: realtime_planner(book),
    }
    guardrails = Guardrails()
    # The pool is the forward stage's Transport, chosen here once (stage tests give it an in-process one).
    forwarder = Forwarder(upstream, settings.upstreams, exchange_timeout=settings.timeouts.upstream_timeout)
    # Jobs answers left running, read until done; by no worker of several that count apart (jobs.py).
    jobs = RunningJobs(forwarder, outcomes, rate_limit.reserve_nothing, processes=workers)
    stop_cut = StopCut()  # told by the server when its stop's grace runs out (server.py)
    log = Log(outcomes, tee_limit=settings.limits.log_tee_bytes, jobs=jobs, stop_cut=stop_cut)
    metrics.gauge("sluicegate_jobs_read", "Predictions left running, read until done", lambda: jobs.watching)
    if isinstance(cache, MemoryCache) and cache.store is not None:
        metrics.counter(
            "sluicegate_cache_writes_dropped",
            "Exact cache entries the database did not take (locked, down): kept in memory only",
            lambda: cache.dropped_writes,
        )
    resolve = Resolve(directory, tokens, settings.host_gateway)
    authenticate, plan, allow_list, inject_keys = (
        Authenticate(tokens),
        Plan(
            planners,
            WorkersAIAccount.configured(settings.workers_ai_account_id, settings.upstreams),
            settings.upstreams,
        ),
        AllowList(),
        InjectKeys(keys),
    )
    semantic.shadow_through(log)
    pipeline = build_pipeline(
        [
            log,
            resolve,
            authenticate,
            plan,
            allow_list,
            Ingress(items),
            TokenCount(counter),
            guardrails,
            inject_keys,
            ResponseCache(
                cache,
                max_entry_bytes=settings.limits.cache_entry_bytes,
                wait_timeout=settings.timeouts.coalesce_wait,
                clock=clock,
                ahead=AdmitAhead(admission, rate_limit, clock) if admission is not None else None,
                counter=counter,
            ),
            semantic,
            rate_limit,
        ],
        Attempts(forwarder, deadline=settings.timeouts.retry_deadline, circuits=circuits, keys=step_keys),
    )
    # A realtime session is admitted as a request is (no body to guard or cache), then relayed; its
    # client's text events pass the guardrails one by one (realtime/guard.py).
    realtime = RealtimeEndpoint(
        [log, resolve, authenticate, plan, allow_list, inject_keys, rate_limit],
        RealtimeRelay(rate_limit, pricing, guardrails),
        rate_limit,
        upstream,
        settings.upstreams,
        keys=step_keys,
        handshake_timeout=settings.timeouts.upstream_timeout,
        max_message_bytes=settings.limits.realtime_message_bytes,
    )

    # Each message of a universal WebSocket runs through `pipeline` as a POST would; the upgrade
    # itself is admitted by the gateway and its token.
    sockets = UniversalSockets(
        pipeline,
        [resolve, authenticate],
        in_flight=settings.limits.websocket_requests_in_flight,
        max_message_bytes=settings.limits.max_body_bytes,
        send_timeout=settings.timeouts.upstream_timeout,  # as an HTTP client not reading is cut
        clock=clock,
    )

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        # The parts opened so far, by their names in `close` below: a start that fails closes them
        # (an unclosed upstream session was an error line after the start's own), not the others.
        opened = {"redis"}
        try:
            await open_database(database, settings.resolved_database_url)  # unusable: one line (startup.py)
            opened.add("database")
            secret = await ensure_admin_token(database, DEFAULT_ACCOUNT, settings.admin_token)
            if secret is not None:
                print(f"Bootstrap admin token (shown once, stored hashed): {secret}", flush=True)
            if settings.admin_token:  # known from the start: answered from memory if the database stalls
                await tokens.check(settings.admin_token)
            await cache.open()
            opened.add("cache")
            with data_files(settings.data_dir):  # counters.db, counters-journal/: one line if unusable
                await limiter.open()
            opened.add("limiter")
            await route_state.open()
            opened.add("route state")
            await semantic.open()
            opened.add("semantic cache")
            if any(gateway.settings.semantic_cache_enabled for gateway in await database.all_gateways()):
                semantic.models.warm_up(at_start=True)  # in the background; /healthz says 503 until done
            await upstream.open()
            opened.add("upstream client")
            with data_files(settings.data_dir):  # spool/
                logbook.start()
            opened.add("log writer")
            retention.start()
        except BaseException:
            await close(opened)
            raise
        yield
        await close(None)  # every part

    async def close(only: set[str] | None) -> None:
        # aiohttp runs this after in-flight requests have finished, so the last records are in.
        # Each part in turn, each bounded (shutdown.py): a stuck one must not keep the process up.
        parts = [
            ("retention", retention.close),
            ("shadow requests", semantic.close_shadow),
            ("job reads", jobs.close),
            ("outcomes", outcomes.close),
            ("log writer", logbook.close),
            *([("tracing", tracing.close)] if tracing is not None else []),
            *([("OTLP logs", otlp_logs.close)] if otlp_logs is not None else []),
            ("upstream client", upstream.close),
            ("semantic cache", semantic.close),
            ("cache", cache.close),
            ("limiter", limiter.close),
            ("route state", route_state.close),
            *([("redis", redis.close)] if redis is not None else []),
            ("database", database.close),
        ]
        for name, close_part in parts:
            if only is None or name in only:
                await close_within(name, close_part())

    guard = Guard(tokens, database)
    app = web.Application(client_max_size=settings.limits.max_body_bytes)
    # A request aiohttp's parser refuses: a JSON error that quotes none of it; a head that does not come: 408.
    answer_refusals(app, settings.timeouts.header_timeout, settings.timeouts.keepalive_timeout)
    app.on_response_prepare.append(close_uninvited)  # answered before a body it never invited
    app[BODY_LIMITS] = BodyLimits(settings.limits.max_body_bytes, settings.timeouts.body_timeout)
    app.cleanup_ctx.append(lifespan)
    app[METRICS] = metrics
    app[STOP_CUT] = stop_cut
    app[WAITING_BODIES] = set()

    async def stopping(app: web.Application) -> None:
        stop_waiting(app)  # a body still on its way will not come: see endpoints/body.py

    async def end_sessions(app: web.Application) -> None:  # realtime sessions, universal WebSockets
        await asyncio.gather(realtime.shut_down(), sockets.shut_down())

    app.on_shutdown.append(stopping)
    app.on_shutdown.append(end_sessions)
    admin = AdminApi(
        database,
        directory,
        cache,
        guard,
        purgers=[semantic.purge],
        watchers=[semantic.models.gateway_saved, guardrails.gateway_saved],
        providers=book.names,
    )
    add_routes(
        app,
        proxy=ProxyEndpoint(
            pipeline,
            clock=clock,
            realtime=realtime,
            ingress=format_at,
            sockets=sockets,
            write_timeout=settings.timeouts.upstream_timeout,  # as the relay's wait on its client
        ),
        admin=admin,
        route_api=RouteApi(admin, database, guard),
        export=LogExport(database, guard, clock),
        access=AccessApi(database, tokens, keys, key_pools, guard, providers),
        custom=CustomProviderApi(database, customs, guard, providers),
        urls=GatewayUrls(database, providers, translated, guard),
        metrics=MetricsEndpoint(metrics, guard if settings.telemetry.metrics_require_token else None),
        health=HealthEndpoint(semantic.models),
        status=StatusEndpoint(spool, logbook, links, settings.logs.batch_size, guard),
        database=database,
        limiter=limiter,
        guard=guard,
        providers=providers,
        semantic_thresholds=semantic.thresholds,
    )
    return app
