"""What keeps `serve` from starting, said in one line: `error: …` and exit 2, as a configuration
error is, never a traceback."""

from __future__ import annotations


class StartupError(Exception):
    """The server cannot start; the message says why, in one line."""
