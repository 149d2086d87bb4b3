"""The storage order contract (`LogReader.stored_logs`, what exports page by): records come in the
order they were stored, and reading on from the last position finds every record stored since,
whatever its id and time. Imported by each backend's module, as database_contract.py is."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.storage.base import LogQuery, LogRecord
from tests.storage.database_contract import T0, Backend, record

GATEWAY = LogQuery(account="local", gateway="default", limit=100)


async def walk(database: Backend, query: LogQuery, after: str = "") -> tuple[list[str], str]:
    """The ids read page by page (pages of 2) from `after`, and the last position."""
    ids: list[str] = []
    query = LogQuery(**{**_fields(query), "limit": 2})
    while page := await database.stored_logs(query, after):
        ids += [stored.id for _, stored in page]
        after = page[-1][0]
    return ids, after


def _fields(query: LogQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in query.__slots__}  # type: ignore[attr-defined]


async def test_a_record_stored_later_comes_after_the_last_position_whatever_its_time(
    database: Backend,
) -> None:
    earlier, first, second = record(ts=T0 + 10), record(ts=T0 + 20), record(ts=T0 + 30)
    await database.write_logs([first, second])
    read, position = await walk(database, GATEWAY)
    assert read == [first.id, second.id]

    await database.write_logs([earlier, record(ts=T0 + 15, gateway="other")])  # a request that ran long

    assert (await walk(database, GATEWAY, position))[0] == [earlier.id]
    assert (await walk(database, GATEWAY))[0] == [first.id, second.id, earlier.id]


async def test_the_range_is_by_time_and_a_range_read_again_finds_records_stored_since(
    database: Backend,
) -> None:
    before, inside, after_range = record(ts=T0 + 5), record(ts=T0 + 50), record(ts=T0 + 500)
    await database.write_logs([before, after_range, inside])
    ranged = LogQuery(account="local", gateway="default", since=T0 + 10, until=T0 + 100, limit=100)
    read, position = await walk(database, ranged)
    assert read == [inside.id]

    late = record(ts=T0 + 20)
    await database.write_logs([late, record(ts=T0 + 1)])

    assert (await walk(database, ranged, position))[0] == [late.id]
    assert (await walk(database, ranged))[0] == [inside.id, late.id]


async def test_a_range_with_nothing_stored_yet_is_empty_and_finds_what_is_stored_later(
    database: Backend,
) -> None:
    await database.write_logs([record(ts=T0 + 5)])
    ranged = LogQuery(account="local", gateway="default", since=T0 + 10, limit=100)
    assert await database.stored_logs(ranged, "") == []
    late = record(ts=T0 + 20)
    await database.write_logs([late])
    assert (await walk(database, ranged))[0] == [late.id]


async def test_each_position_is_its_own_record(database: Backend) -> None:
    records: list[LogRecord] = [record(ts=T0 + n) for n in range(5)]
    await database.write_logs(records[:3])
    await database.write_logs(records[3:])
    page = await database.stored_logs(GATEWAY, "")
    for index, (position, _) in enumerate(page):
        assert [stored.id for _, stored in await database.stored_logs(GATEWAY, position)] == [
            r.id for r in records[index + 1 :]
        ]


@pytest.mark.parametrize("position", ["01a25078b43a5d0317adc5984732e3e1", "s", "x12", "s-1", "sx", "x1.5_a"])
async def test_a_position_the_store_never_gave_is_a_value_error(database: Backend, position: str) -> None:
    await database.write_logs([record()])
    with pytest.raises(ValueError, match="not a storage position"):
        await database.stored_logs(GATEWAY, position)
