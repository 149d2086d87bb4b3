"""`python -m bench.guardrails.speed` runs (it went out of step with the guardrails' text formats
once, unnoticed: nothing ran it)."""

from __future__ import annotations

import pytest
from bench.guardrails import speed


def test_the_guardrails_timing_runs_every_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["speed", "--rounds", "3"])
    speed.main()
    printed = capsys.readouterr().out
    for step in ("redact pii", "chat request body", "stream, 16-character pieces", "stage, 4 KB JSON answer"):
        assert step in printed
