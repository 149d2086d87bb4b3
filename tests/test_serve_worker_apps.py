"""`serve --workers N` builds each worker's application knowing how many workers serve: a worker
of several without Redis reads no Replicate prediction itself (pipeline/jobs.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sluicegate.app
from sluicegate.cli import serve
from sluicegate.config import Settings
from sluicegate.workers import Place


class Built(Exception):
    """Raised by the stand-in `create_app`: nothing is served."""


def test_each_worker_builds_its_app_knowing_how_many_serve(
    monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    built: list[int] = []

    def create_app(settings: Settings, clock: Any = None, workers: int = 1) -> None:
        built.append(workers)
        raise Built

    monkeypatch.setattr(sluicegate.app, "create_app", create_app)
    settings = make_settings()
    place = Place(ready_fd=-1, parent_fd=-1, group=tmp_path, index=0, count=3)
    with pytest.raises(Built):
        serve._serve(settings, [], lambda: None, place)  # one of `serve --workers 3`
    with pytest.raises(Built):
        serve._serve(settings, [], lambda: None)  # `serve` alone
    assert built == [3, 1]
