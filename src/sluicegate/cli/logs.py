"""`logs` (read, or follow, the database's records), `logs export` (from the running gateway,
resumable) and `logs import`."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Annotated, Any, BinaryIO

import typer

from sluicegate import logtransfer
from sluicegate.cli.accounts import account_exists, no_account
from sluicegate.cli.common import (
    AccountOption,
    TokenOption,
    UrlOption,
    console,
    errors,
    logs_app,
    print_error,
    remote_gateway,
    time_text,
    with_database,
    with_database_sync,
)
from sluicegate.cli.terminal import json_shown, shown
from sluicegate.endpoints.log_params import MAX_PAGE, log_query
from sluicegate.gateway import DEFAULT_ACCOUNT
from sluicegate.hints import unknown_gateway
from sluicegate.remote import RemoteError
from sluicegate.storage import Database, LogQuery, LogRecord
from sluicegate.storage.base import GatewayRecords, LogReader


@logs_app.callback(invoke_without_command=True)
def logs(
    context: typer.Context,
    gateway: Annotated[str | None, typer.Option(help="only this gateway")] = None,
    status: Annotated[str | None, typer.Option(help="a status (429) or class (5xx)")] = None,
    provider: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(help="how many of the newest records")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new records")] = False,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Show request logs, newest last; `export` and `import` move them elsewhere and back."""
    if context.invoked_subcommand is not None:
        return
    params = {k: v for k, v in {"status": status, "provider": provider, "limit": str(limit)}.items() if v}
    query = with_database_sync(lambda: log_query(account, gateway, params))

    async def show(db: Database) -> None:
        if gateway is not None:
            await _check_log_gateway(db, account, gateway)
        elif not await account_exists(db, account) and not await db.query_logs(LogQuery(account, limit=1)):
            raise await no_account(db, account)  # (its gateways deleted, an account's records stay)
        # What is already there when following starts is old: only the newest `limit` records of
        # it are shown, never the rest of the follow window after them.
        shown = {record.id for record in await _since(db, query, FOLLOW_WINDOW)} if follow else set()
        records = list(reversed(await db.query_logs(query)))
        for record in records:
            _print_record(record)
        shown.update(record.id for record in records)
        while follow:
            await asyncio.sleep(1.0)
            window = await _since(db, query, FOLLOW_WINDOW)
            for record in window:
                if record.id not in shown:
                    _print_record(record)
            shown = {record.id for record in window}  # older ids never come back: forget them

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends --follow
        with_database(show)


@logs_app.command("export")
def logs_export(
    gateway: Annotated[str, typer.Option(help="the gateway whose records to export")] = "default",
    since: Annotated[
        str | None, typer.Option("--from", help="records at or after this time (epoch s or ISO 8601)")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="records before this time (default: when the export starts)")
    ] = None,
    status: Annotated[str | None, typer.Option(help="a status (429) or class (5xx)")] = None,
    provider: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    feedback: Annotated[str | None, typer.Option(help="-1, 0 or 1")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many records")] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="the NDJSON file to write ('-': stdout)")
    ] = Path("-"),
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the export in --output after its last whole line")
    ] = False,
    cursor: Annotated[str | None, typer.Option(help="continue an export from this line's cursor")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Export a gateway's records from the running gateway as NDJSON, oldest first (all fields,
    bodies included), for `logs import` or a log store of your own."""
    to_stdout = str(output) == "-"
    if resume and to_stdout:
        print_error("--resume continues the file given with --output; for stdout, pass --cursor instead")
        raise typer.Exit(2)
    remote = remote_gateway(url, token, "read")
    try:
        cursor = (logtransfer.resume_point(output) if resume else None) or cursor
    except logtransfer.NotAnExport as exc:
        print_error(str(exc))
        raise typer.Exit(1) from exc
    filters = {
        "from": since, "to": until, "status": status, "provider": provider, "model": model,
        "feedback": feedback, "limit": str(limit) if limit else None, logtransfer.CURSOR: cursor,
    }  # fmt: skip
    request = logtransfer.ExportRequest(account, gateway, {k: v for k, v in filters.items() if v is not None})
    out = _TerminalLines(sys.stdout.buffer) if to_stdout else _OutputFile(output, append=resume)
    try:
        with contextlib.closing(out):
            written = logtransfer.export(remote, request, out)
            out.finish()
    except logtransfer.ExportInterrupted as exc:
        if exc.cursor is None or (exc.written == 0 and not resume):  # nothing of it was written
            how = "run it again"
        else:
            how = "continue it with " + (
                f"--cursor {exc.cursor}" if to_stdout else f"--output {output} --resume"
            )
        print_error(f"the export stopped after {exc.written} record(s): {exc}; {how}")
        raise typer.Exit(1) from exc
    except RemoteError as exc:
        print_error(str(exc))
        raise typer.Exit(1) from exc
    except OSError as exc:
        print_error(f"cannot write {output}: {exc.strerror}")
        raise typer.Exit(1) from exc
    where = "stdout" if to_stdout else str(output)
    errors.print(
        f"exported {written} record(s) of gateway {gateway} to {where}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@logs_app.command("import")
def logs_import(
    file: Annotated[Path, typer.Argument(help="an NDJSON file written by `logs export` ('-': stdin)")],
) -> None:
    """Store the records of an export in the configured database (records already there are kept
    as they are, so importing a file twice stores each record once)."""

    async def load(db: Database) -> int:
        if str(file) == "-":
            return await logtransfer.import_records(db, sys.stdin.buffer)
        with file.open("rb") as lines:
            return await logtransfer.import_records(db, lines)

    try:
        read = with_database(load)
    except logtransfer.ImportFailed as exc:
        print_error(f"{file}: {exc}; the records before it were imported (importing again skips them)")
        raise typer.Exit(1) from exc
    except OSError as exc:
        print_error(f"cannot read {file}: {exc.strerror}")
        raise typer.Exit(1) from exc
    console.print(
        f"{read} record(s) of {file} are in the database (any already there were kept as they were)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


async def _check_log_gateway(db: GatewayRecords, account: str, slug: str) -> None:
    """An error for a gateway that neither exists nor left records: a typo would print nothing."""
    if await db.get_gateway(account, slug) is None and not await db.count_logs(account, slug):
        raise unknown_gateway(account, slug, [g.slug for g in await db.list_gateways(account)])


class _TerminalLines:
    """Export lines bound for stdout, often a terminal: the same JSON, with the characters a
    terminal acts on (C1 controls, bidi overrides) escaped. A file gets the lines as they came."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, line: bytes) -> None:
        self._out.write(json_shown(line))

    def flush(self) -> None:
        self._out.flush()

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


class _OutputFile:
    """The --output file, opened when the first line arrives (truncated, or appended to when
    resuming): an export the gateway refuses (no such gateway, a bad --from) leaves a file that was
    there as it was, and makes none."""

    def __init__(self, path: Path, append: bool) -> None:
        self._path, self._mode = path, "ab" if append else "wb"
        self._file: IO[Any] | None = None

    def write(self, line: bytes) -> None:
        self._opened().write(line)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def finish(self) -> None:
        """The export ended well: an export of no records is an empty file too."""
        self._opened()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _opened(self) -> IO[Any]:
        if self._file is None:
            self._file = self._path.open(self._mode)
        return self._file


def _print_record(record: LogRecord) -> None:
    console.print(_log_line(record), highlight=False, markup=False, soft_wrap=True)


# Records are written after their request ends, under an id stamped when it began: a long stream's
# record arrives late with an old id. Re-reading this window (and skipping ids already shown)
# catches every one.
FOLLOW_WINDOW = 330.0


async def _since(db: LogReader, query: LogQuery, window: float) -> list[LogRecord]:
    """Every matching record whose id is younger than `window` seconds, oldest first."""
    after = f"{int((time.time() - window) * 1000):012x}"
    found: list[LogRecord] = []
    while True:
        page = await db.query_logs(replace(query, after=after, limit=MAX_PAGE))
        found += page
        if len(page) < MAX_PAGE:
            return found
        after = page[-1].id


def _cache(r: LogRecord) -> str:
    """`HIT`, `MISS (semantic)`, ...: which cache the status is about, when it is the semantic one."""
    if not r.cache_status:
        return "-"
    return f"{r.cache_status} (semantic)" if r.cache_source == "semantic" else r.cache_status


def _log_line(r: LogRecord) -> str:
    tokens = (
        f"{r.tokens_in}/{r.tokens_out}{'~' if r.usage_estimated else ''}" if r.tokens_in is not None else "-"
    )
    cost = f"${r.cost_usd:.6f}" if r.cost_usd is not None else "-"
    # Model, path and the rest may be whatever a client sent, the id whatever an imported file held:
    # escaped, they stay on this line.
    parts = [
        time_text(r.ts), shown(r.id), shown(r.gateway), shown(r.provider), shown(r.method), shown(r.endpoint),
        shown(r.model or "-"), str(r.status), f"{r.latency_ms:.1f}ms", tokens, cost, shown(_cache(r)),
        "stream" if r.stream else "",
    ]  # fmt: skip
    line = " ".join(p for p in parts if p)
    return f"{line} error={r.error[:120]!r}" if r.error else line  # repr escapes the same characters
