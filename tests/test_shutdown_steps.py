"""A graceful stop cannot hang on one part: `close_within` gives up on it, says so, and goes on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sluicegate.shutdown import close_within


async def test_a_part_that_never_closes_is_left_behind_and_named(caplog: pytest.LogCaptureFixture) -> None:
    never = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="sluicegate.shutdown"):
        closed = await close_within("stuck part", never.wait(), seconds=0.05)
    assert closed is False
    assert "stuck part did not close within 0.05 s" in caplog.text


async def test_a_part_that_closes_in_time_is_awaited_whole() -> None:
    done: list[str] = []

    async def close() -> None:
        await asyncio.sleep(0)
        done.append("closed")

    assert await close_within("quick part", close(), seconds=5) is True
    assert done == ["closed"]
