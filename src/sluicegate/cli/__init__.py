"""The command line, one module per command group: `sluicegate serve`, `gateway ...`, `token ...`,
`logs ...`, `cache ...`, `spend`, `routes ...`, `keys ...`, `custom-providers ...`.

Management commands open the configured database directly, so they work with or without a running
server; a running server sees their changes within a second. Each says on stderr which database it
uses, and only `serve` and `migrate` create one: a command run from another folder than the server's
must not quietly start a second, empty database there. `cache purge` talks to the running server
(its memory holds cached answers too): see `remote.py` for how it finds the server and its token.
"""

from __future__ import annotations

# Importing a command module registers its commands; `--help` lists them in this order.
from sluicegate.cli import serve  # noqa: F401  # isort: skip
from sluicegate.cli import custom, manage, running  # noqa: F401  # isort: skip
from sluicegate.cli import logs  # noqa: F401  # isort: skip
from sluicegate.cli.common import app


def main() -> None:
    app()
