"""Test help for segments made ahead (the spool's, the charge journal's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sluicegate.mapped_segment import MappedSegment


def while_made_ahead(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> None:
    """Run `action` once, while the next segment is being made ahead (after it got its number,
    before it is published): what the event loop may do meanwhile."""
    prefault = MappedSegment.prefault

    def meanwhile(segment: MappedSegment, length: int) -> bool:
        monkeypatch.setattr(MappedSegment, "prefault", prefault)
        action()
        return prefault(segment, length)

    monkeypatch.setattr(MappedSegment, "prefault", meanwhile)
