"""The rules docs/architecture.md ("Rules the code keeps") states about the shape of the code, read
from the source with `ast` (nothing is imported): no module over 400 lines, in `src` and in the
bench harness (`bench/`, project code too); `providers/` knows nothing of `pipeline/`, `storage/`
or `endpoints/`, not even through another module; `pipeline/` never imports a storage backend;
in `src`, only `cli/serve.py` imports `app.py`.

Each rule is also run on a small tree that breaks it, so a checker that found nothing anywhere
would fail here too.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
BENCH = "bench"  # a top-level package beside `src`: `python -m bench`, `make eval-semantic`
MAX_LINES = 400
PROVIDERS = "sluicegate.providers"
PIPELINE = "sluicegate.pipeline"
# What the providers may not reach: the layers that ask them.
OUTSIDE_PROVIDERS = ("sluicegate.pipeline", "sluicegate.storage", "sluicegate.endpoints")
# The storage backends (`sqlite.py`, `sqlite_logs.py`, `redis_link.py`, …): the pipeline uses the
# storage protocols only.
BACKENDS = ("sqlite", "postgres", "redis")
APP = "sluicegate.app"
APP_IMPORTERS = frozenset({"sluicegate.cli.serve"})


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path, package: str = "") -> dict[str, Path]:
    """Every module under `root` (a `src` directory), or of its top-level `package` only, by dotted
    name."""
    return {module_name(root, path): path for path in sorted((root / package).rglob("*.py"))}


@functools.cache  # each file is parsed once for all the rules
def imported(name: str, path: Path) -> frozenset[str]:
    """Every dotted name `path` imports, anywhere in it (under TYPE_CHECKING and inside functions
    too): `from a import b` counts as `a` and `a.b`, since `b` may be a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                anchor = package.rsplit(".", node.level - 1)[0]  # `..` is the package's parent
                base = f"{anchor}.{node.module}" if node.module else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(found)


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def outside_providers(name: str) -> bool:
    return any(in_package(name, package) for package in OUTSIDE_PROVIDERS)


def is_backend(name: str) -> bool:
    parts = name.split(".")
    return parts[:2] == ["sluicegate", "storage"] and len(parts) > 2 and parts[2].startswith(BACKENDS)


def oversized(root: Path, package: str = "") -> list[tuple[str, int]]:
    return [
        (name, lines)
        for name, path in modules(root, package).items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]


def direct_imports(root: Path, package: str, forbidden: Callable[[str], bool]) -> list[tuple[str, str]]:
    """(module of `package`, forbidden name it imports) for each such import."""
    return sorted(
        (name, target)
        for name, path in modules(root).items()
        if in_package(name, package)
        for target in imported(name, path)
        if forbidden(target)
    )


def reachable_imports(root: Path, package: str, forbidden: Callable[[str], bool]) -> list[tuple[str, str]]:
    """(importer, forbidden name) for each forbidden name `package` reaches, directly or through
    other modules under `root`."""
    found = modules(root)
    graph = {name: imported(name, path) for name, path in found.items()}
    start = [name for name in found if in_package(name, package)]
    seen, stack, hits = set(start), list(start), set()
    while stack:
        importer = stack.pop()
        for target in graph[importer]:
            if forbidden(target):
                hits.add((importer, target))  # the first forbidden step: not followed further
            elif target in found and target not in seen:
                seen.add(target)
                stack.append(target)
    return sorted(hits)


def app_importers(root: Path) -> list[str]:
    return sorted(
        name
        for name, path in modules(root).items()
        if name != APP and name not in APP_IMPORTERS and APP in imported(name, path)
    )


def test_no_module_is_over_400_lines() -> None:
    assert oversized(SRC) == []


def test_no_bench_module_is_over_400_lines() -> None:
    found = modules(ROOT, BENCH)
    assert {"bench.report", "bench.runner", "bench.semantic_eval.seeds"} <= set(found)
    assert oversized(ROOT, BENCH) == []


def test_providers_reach_nothing_of_the_pipeline_storage_or_endpoints() -> None:
    assert reachable_imports(SRC, PROVIDERS, outside_providers) == []


def test_the_pipeline_imports_no_storage_backend() -> None:
    assert direct_imports(SRC, PIPELINE, is_backend) == []


def test_only_the_serve_command_imports_the_app() -> None:
    assert app_importers(SRC) == []


def test_the_source_is_where_the_rules_look() -> None:
    found = modules(SRC)
    assert {PROVIDERS, PIPELINE, APP, *APP_IMPORTERS} <= set(found)
    assert len(found) > 100  # the whole package, not a stray directory
    assert "sluicegate.providers.base" in imported(
        "sluicegate.providers", found["sluicegate.providers"]
    )  # the scanner reads imports at all


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A `src` that breaks every rule once, each time in a way the real code could."""
    files = {
        "sluicegate/__init__.py": "",
        "sluicegate/app.py": "",
        "sluicegate/big.py": "x = 1\n" * (MAX_LINES + 1),
        "sluicegate/fits.py": "x = 1\n" * MAX_LINES,
        "sluicegate/cli/__init__.py": "",
        "sluicegate/cli/serve.py": "from sluicegate.app import create_app\n",
        "sluicegate/cli/logs.py": "def main():\n    from sluicegate import app\n",
        "sluicegate/compat/__init__.py": "from sluicegate.pipeline.steps import Step\n",
        "sluicegate/providers/__init__.py": "",
        "sluicegate/providers/gemini/__init__.py": "",
        # Through compat, imported only when type checking: still reached.
        "sluicegate/providers/base.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sluicegate import compat\n",
        "sluicegate/pipeline/__init__.py": "",
        "sluicegate/pipeline/steps.py": "from sluicegate.storage.cache import Cache\n",
        # Relative and deferred: `..storage` is sluicegate.storage.
        "sluicegate/pipeline/log.py": "def write():\n    from ..storage import sqlite_logs\n",
        "sluicegate/storage/__init__.py": "",
        "sluicegate/storage/cache.py": "",
        "sluicegate/storage/sqlite_logs.py": "",
    }
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_bench_check_reads_its_package_only(tmp_path: Path) -> None:
    files = {
        "bench/__init__.py": "",
        "bench/fits.py": "x = 1\n" * MAX_LINES,
        "bench/semantic_eval/seeds.py": "x = 1\n" * (MAX_LINES + 1),
        "tests/big.py": "x = 1\n" * (MAX_LINES + 1),  # beside the package: not its to count
    }
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert oversized(tmp_path, BENCH) == [("bench.semantic_eval.seeds", MAX_LINES + 1)]


def test_each_rule_finds_what_breaks_it(broken: Path) -> None:
    assert oversized(broken) == [("sluicegate.big", MAX_LINES + 1)]
    assert reachable_imports(broken, PROVIDERS, outside_providers) == [
        ("sluicegate.compat", "sluicegate.pipeline.steps"),
        ("sluicegate.compat", "sluicegate.pipeline.steps.Step"),
    ]
    assert direct_imports(broken, PIPELINE, is_backend) == [
        ("sluicegate.pipeline.log", "sluicegate.storage.sqlite_logs")
    ]
    assert app_importers(broken) == ["sluicegate.cli.logs"]
