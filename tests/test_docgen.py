"""docs/configuration.md is generated from the settings' field descriptions and must match them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluicegate import docgen

DOC = Path(__file__).resolve().parents[1] / docgen.DEFAULT_PATH


def test_every_setting_has_a_description() -> None:
    assert docgen.undocumented() == [], "add description=... to these fields, then regenerate the doc"


def test_configuration_doc_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == docgen.render(), (
        f"{DOC} is out of date: run `PYTHONPATH=src python -m sluicegate.docgen` and commit it"
    )


def test_check_fails_on_a_stale_file_and_passes_once_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "configuration.md"
    path.write_text(docgen.render().replace("seconds", "minutes"), encoding="utf-8")
    assert docgen.main(["--check", str(path)]) == 1
    assert docgen.main([str(path)]) == 0
    assert docgen.main(["--check", str(path)]) == 0


@pytest.mark.parametrize(
    ("field", "env"),
    [
        ("data_dir", "`SLUICEGATE_DATA` or `SLUICEGATE_DATA_DIR`"),
        (
            "stores.rate_limit_failure",
            "`SLUICEGATE_RATE_LIMIT_FAILURE` or `SLUICEGATE_STORES__RATE_LIMIT_FAILURE`",
        ),
        ("timeouts.retry_deadline", "`SLUICEGATE_TIMEOUTS__RETRY_DEADLINE`"),
    ],
)
def test_environment_column_names_the_variable_the_loader_reads(field: str, env: str) -> None:
    row = next(line for line in docgen.render().splitlines() if line.startswith(f"| `{field}` "))
    assert row.split(" | ")[1] == env
