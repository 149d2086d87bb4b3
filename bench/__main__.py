"""``python -m bench``: gateway vs direct vs a bare aiohttp proxy: latency, throughput, CPU per request."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from rich.console import Console

from bench import first_byte_rounds, record, report, route_plan
from bench import spool as spool_cost
from bench.endpoints import Processes, ScenarioSkipped
from bench.first_byte import FirstByteError
from bench.first_byte_rounds import FIRST_BYTE, FirstByteResult
from bench.machine import machine_info
from bench.preflight import PreflightError
from bench.procs import BenchLock, ProcessGroup, StartupError
from bench.run_result import ScenarioResult
from bench.runner import Bench
from bench.scenarios import SCENARIOS, Scenario, by_name
from bench.settings import DEFAULT_REDIS_URL, Settings
from bench.targets import TARGETS, Measurements
from bench.wrk import WrkError, ensure_wrk, wrk_version

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_SETUP_FAILED = 2
EXIT_INTERRUPTED = 130
ROUTE_PLANS = 20_000  # plans timed per route in the report (about a second in all)
SPOOL_RECORDS = 20_000  # records timed for the spool's cost in the report


def duration_scale(raw: str | None) -> float:
    if raw is None or raw.strip() == "":
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"BENCH_DURATION must be a number (a scale factor), not {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"BENCH_DURATION must be > 0, not {raw!r}")
    return value


def pick_cpus(
    gateway_cpu: int | None, load_cpu: int | None, console: Console
) -> tuple[int | None, int | None]:
    usable = os.sched_getaffinity(0)
    wanted = [c for c in (gateway_cpu, load_cpu) if c is not None]
    if all(c in usable for c in wanted) and (gateway_cpu != load_cpu or gateway_cpu is None):
        return gateway_cpu, load_cpu
    console.print(
        f"[yellow]warning: cannot pin gateway to cpu {gateway_cpu} and load to cpu {load_cpu} "
        f"(usable cpus: {sorted(usable)}): running unpinned, figures are not comparable[/yellow]"
    )
    return None, None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Measure the gateway's added latency, throughput and CPU per request against a direct call "
            "to the same fake upstream and against a bare aiohttp pass-through proxy (the baseline); "
            "gateway and baseline on one core, fake upstream and wrk on the other. "
            "Durations scale with the BENCH_DURATION environment variable (e.g. 0.2 for a smoke run)."
        ),
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help=(
            f"run only these scenarios (repeatable or comma-separated; see --list); {FIRST_BYTE}: "
            "the first byte of a streamed answer"
        ),
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and targets, then exit")
    parser.add_argument(
        "--direct-only", action="store_true", help="do not start the gateway: measure the fake upstream alone"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="do not start the bare aiohttp proxy (bench/bare_proxy.py): no baseline runs",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL,
        help=(
            "the Redis of the gateway-redis scenarios (default $BENCH_REDIS_URL or "
            f"{DEFAULT_REDIS_URL}; a random key prefix is added)"
        ),
    )
    parser.add_argument(
        "--duration-scale",
        type=float,
        default=None,
        help="scale factor for every duration (overrides BENCH_DURATION; default 1)",
    )
    parser.add_argument("--gateway-cpu", type=int, default=0, help="core for the gateway (default 0)")
    parser.add_argument(
        "--load-cpu", type=int, default=1, help="core for wrk and the fake upstream (default 1)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--gateway-bin",
        type=Path,
        default=Path(sys.executable).with_name("sluicegate"),
        help="the sluicegate executable (default: next to this Python)",
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=30.0, help="seconds to wait for /healthz (default 30)"
    )
    parser.add_argument(
        "--single-write-stream",
        action="store_true",
        help="the fake upstream sends each SSE stream in one write (default: one write per event)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=record.RESULTS_DIR / "latest.json",
        help="where to write the JSON results (default bench/results/latest.json)",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for another benchmark run on this machine to finish (default 900)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    return parser.parse_args(argv)


def list_scenarios(console: Console) -> None:
    for s in SCENARIOS:
        paths = f"direct and baseline {s.direct_path or '—'}, {s.gateway_server} {s.gateway_path}"
        extra = ""
        if s.control_settings is not None:
            extra += f"; control settings {s.control_settings}"
        if s.gateway_settings:
            extra += f"; gateway settings {s.gateway_settings}"
        console.print(
            f"[bold]{s.name}[/bold]: {s.description} "
            f"(-c{s.connections} -t{s.threads}, {s.duration_s:g} s, {paths}{extra})",
            highlight=False,
        )
    console.print(
        f"[bold]{FIRST_BYTE}[/bold]: after the scenarios, 1 connection (bench/first_byte.py): the first "
        f"SSE event of a streamed request and a whole plain answer, {first_byte_rounds.REQUESTS} of each "
        f"per target in {first_byte_rounds.ROUNDS} rounds",
        highlight=False,
    )
    console.print("\n[bold]targets[/bold]:")
    for t in TARGETS:
        scaled = f" (also scaled by the baseline: {t.scaled})" if t.scaled else ""
        console.print(f"  {t.label}: {t.scenario} {t.metric} {t.text()}{scaled}", highlight=False)


def chosen(only: list[str]) -> tuple[list[Scenario], bool]:
    """The scenarios ``--only`` names (all without it), and whether the first-byte step runs: it is
    no wrk scenario, but is chosen by name like one (and runs after them)."""
    names = [n.strip() for chunk in only for n in chunk.split(",") if n.strip()]
    if not names:
        return list(SCENARIOS), True
    return by_name([n for n in names if n != FIRST_BYTE]), FIRST_BYTE in names


def _raise_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    if args.list:
        list_scenarios(console)
        return EXIT_OK
    try:
        scenarios, with_first_byte = chosen(args.only)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        return EXIT_SETUP_FAILED
    scale = (
        args.duration_scale
        if args.duration_scale is not None
        else duration_scale(os.environ.get("BENCH_DURATION"))
    )
    if args.no_pin:
        gateway_cpu, load_cpu = None, None
    else:
        gateway_cpu, load_cpu = pick_cpus(args.gateway_cpu, args.load_cpu, console)
    settings = Settings(
        scale=scale,
        load_cpu=load_cpu,
        gateway_cpu=gateway_cpu,
        gateway_bin=args.gateway_bin,
        direct_only=args.direct_only,
        startup_deadline_s=args.startup_timeout,
        single_write_stream=args.single_write_stream,
        baseline=not args.no_baseline and not args.direct_only,
        redis_url=args.redis_url,
    )
    # SIGTERM/SIGHUP take the same path as Ctrl-C, so every child is stopped.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)

    def log(msg: str) -> None:
        console.print(msg, highlight=False)

    try:
        wrk = ensure_wrk()
    except WrkError as exc:
        console.print(f"[red]error: {exc}[/red]")
        return EXIT_SETUP_FAILED
    version = wrk_version(wrk)
    log(
        f"bench: {len(scenarios)} scenario(s), duration scale {scale:g}, gateway cpu {gateway_cpu}, "
        f"load cpu {load_cpu}, {version}"
    )

    results: list[ScenarioResult] = []
    first_byte: FirstByteResult | None = None
    skipped: list[str] = []
    error: str | None = None
    code = EXIT_OK
    lock = BenchLock()
    machine = machine_info(version)
    with tempfile.TemporaryDirectory(prefix="sluicegate-bench-") as tmp, ProcessGroup() as group:
        processes = Processes(settings, group, Path(tmp), log)
        bench = Bench(processes, wrk)
        try:
            lock.acquire(timeout_s=args.lock_timeout, on_wait=log)
            processes.start_upstream()
            if settings.gateway_cpu is not None and settings.gateway_cpu != settings.load_cpu:
                processes.start_floor()  # only meaningful on the gateway's own core
            if settings.baseline:
                processes.start_baseline()
            if not settings.direct_only:
                processes.start_gateway()
            for scenario in scenarios:
                try:
                    result = bench.run_scenario(scenario)
                    if result.runs:  # (a gateway-only scenario has none with --direct-only)
                        results.append(result)
                except ScenarioSkipped as exc:
                    skipped.append(scenario.name)
                    console.print(f"[yellow]skipped {scenario.name}: {exc}[/yellow]", highlight=False)
            if with_first_byte:
                # As many requests as a smoke run's durations allow (scaled), a few dozen at least.
                requests = max(20, round(first_byte_rounds.REQUESTS * scale))
                first_byte = first_byte_rounds.measure(
                    processes.endpoints, cpu=settings.load_cpu, log=log, requests=requests
                )
        except (StartupError, PreflightError, WrkError) as exc:
            error = str(exc)
            code = EXIT_SETUP_FAILED
        except FirstByteError as exc:
            error = f"{FIRST_BYTE}: {exc}"
            code = EXIT_RUN_FAILED
        except KeyboardInterrupt:
            console.print("\n[yellow]interrupted: stopping every process[/yellow]")
            code = EXIT_INTERRUPTED
        finally:
            # A second Ctrl-C must not cut the cleanup short (children run in their own sessions).
            handlers = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                processes.close()
                group.close()
                lock.release()
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)

    measured = Measurements(results, first_byte)
    if results or first_byte is not None:
        report.render(console, measured, TARGETS)
    # Routing decisions, in process: no HTTP, so cheap enough to measure after the load is gone.
    plans = spooled = None
    if code == EXIT_OK and results:
        plans = route_plan.measure(ROUTE_PLANS)
        console.print("\n[bold]Routing decisions[/bold] (python -m bench.route_plan)")
        for line in route_plan.lines(plans, ROUTE_PLANS):
            console.print(line, highlight=False, markup=False)
        spooled = spool_cost.measure(SPOOL_RECORDS)
        console.print("\n[bold]The log spool's cost per request[/bold] (python -m bench.spool)")
        for line in spool_cost.lines(spooled, SPOOL_RECORDS):
            console.print(line, highlight=False, markup=False)
    if error:
        console.print(f"[bold red]error:[/bold red] {error}", highlight=False)
    noisy = [
        f"{res.scenario.name}/{t}" for res in results for t, r in res.runs.items() if r.interference.noisy
    ]
    if first_byte is not None:
        noisy += [f"{FIRST_BYTE}/{t}" for t, load in first_byte.interference().items() if load.noisy]
    if noisy:
        console.print(
            f"[yellow]warning: other processes were busy during {', '.join(noisy)} "
            "(see 'other load'): rerun on a quiet machine before trusting these figures[/yellow]"
        )
    if code == EXIT_INTERRUPTED:
        return code

    run_errors = sum(r.wrk.errors for res in results for r in res.runs.values())
    if code == EXIT_OK and run_errors:
        console.print(f"[bold red]{run_errors} request(s) failed (socket errors or non-2xx)[/bold red]")
        code = EXIT_RUN_FAILED
    unmet = [t for t in TARGETS if t.evaluate(measured.by_name())[1] is False]
    if code == EXIT_OK and unmet and args.strict:
        code = EXIT_RUN_FAILED

    settings_json: dict[str, Any] = {
        "scale": scale,
        "gateway_cpu": gateway_cpu,
        "load_cpu": load_cpu,
        "direct_only": settings.direct_only,
        "single_write_stream": settings.single_write_stream,
        "baseline": settings.baseline,
        "scenarios": [s.name for s in scenarios],
        "first_byte": with_first_byte,
        "skipped": skipped,
    }
    extra = {"route_plan_ms": plans} if plans is not None else {}
    if spooled is not None:
        extra["spool_ms"] = spooled
    if not results and first_byte is None:
        log("nothing measured: no results written")
        return code
    data = (
        record.to_json(
            measured=measured,
            targets=TARGETS,
            machine=machine,
            settings=settings_json,
            error=error,
        )
        | extra
    )
    path = record.write_json(data, args.output)
    md = report.write_markdown(report.markdown(measured, TARGETS, machine), args.output.with_suffix(".md"))
    log(f"results written to {path} (tables as Markdown: {md})")
    return code


if __name__ == "__main__":
    sys.exit(main())
