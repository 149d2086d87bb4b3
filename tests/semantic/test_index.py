"""The vector index: search within a scope only, removal, expiry, purge, and restart."""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from sluicegate.semantic.index import VectorIndex

DIMENSIONS = 8


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def test_search_returns_the_nearest_of_the_scope_best_first() -> None:
    index = VectorIndex(DIMENSIONS)
    index.add("g/s1", "east", unit(1, 0))
    index.add("g/s1", "north", unit(0, 1))
    index.add("g/s1", "north-east", unit(1, 1))
    index.add("g/s2", "exactly", unit(1, 0.1))

    found = index.search("g/s1", unit(1, 0.1), k=2)
    assert [id for id, _ in found] == ["east", "north-east"]
    assert found[0][1] == pytest.approx(float(unit(1, 0) @ unit(1, 0.1)))
    assert index.search("g/unknown", unit(1, 0)) == []


def test_adding_an_id_again_replaces_it_and_remove_forgets_it() -> None:
    index = VectorIndex(DIMENSIONS)
    index.add("s", "a", unit(1, 0))
    index.add("s", "b", unit(0, 1))
    index.add("s", "a", unit(0, 0, 1))
    assert len(index) == 2
    assert index.search("s", unit(0, 0, 1))[0] == ("a", pytest.approx(1.0))
    assert index.remove("s", "a")
    assert not index.remove("s", "a")
    assert [id for id, _ in index.search("s", unit(0, 0, 1), k=5)] == ["b"]


def test_expired_entries_are_skipped_then_swept() -> None:
    index = VectorIndex(DIMENSIONS)
    index.add("s", "old", unit(1, 0), expires_at=100.0)
    index.add("s", "new", unit(1, 0.5), expires_at=200.0)
    assert index.search("s", unit(1, 0), now=50.0)[0][0] == "old"
    assert [id for id, _ in index.search("s", unit(1, 0), k=2, now=150.0)] == ["new"]
    assert index.expire(150.0) == 1
    assert len(index) == 1


def test_purge_removes_one_gateway_only() -> None:
    index = VectorIndex(DIMENSIONS)
    index.add("acct/one/sem:a", "x", unit(1))
    index.add("acct/one/sem:b", "y", unit(1))
    index.add("acct/two/sem:a", "z", unit(1))
    assert index.purge("acct/one/") == 2
    assert index.search("acct/one/sem:a", unit(1)) == []
    assert index.search("acct/two/sem:a", unit(1))[0][0] == "z"


def test_the_index_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "semantic.vectors"
    index = VectorIndex.open(path, "model-a", DIMENSIONS)
    index.add("s", "kept", unit(1, 0), expires_at=500.0)
    index.add("s", "dropped", unit(0, 1))
    index.add("p/t", "purged", unit(0, 1))
    index.remove("s", "dropped")
    index.purge("p/")
    index.close()

    again = VectorIndex.open(path, "model-a", DIMENSIONS)
    assert len(again) == 1
    assert again.search("s", unit(1, 0), now=0.0) == [("kept", pytest.approx(1.0))]
    assert again.search("s", unit(1, 0), now=600.0) == []
    again.close()


def test_workers_sharing_the_journal_lose_no_entry_to_another_workers_compaction(tmp_path: Path) -> None:
    """`serve --workers N`: each worker opens (and compacts) the same file while others append."""
    path = tmp_path / "semantic.vectors"
    first = VectorIndex.open(path, "model-a", DIMENSIONS)
    first.add("s", "before", unit(1, 0))
    second = VectorIndex.open(path, "model-a", DIMENSIONS)  # replaces the file `first` appends to
    first.add("s", "after", unit(0, 1))
    second.add("s", "second", unit(1, 1))
    first.close()
    second.close()

    again = VectorIndex.open(path, "model-a", DIMENSIONS)
    assert sorted(id for id, _ in again.search("s", unit(1, 1), k=5)) == ["after", "before", "second"]
    again.close()


def test_workers_opening_the_journal_at_once_all_start(tmp_path: Path) -> None:
    path = tmp_path / "semantic.vectors"
    seed = VectorIndex.open(path, "model-a", DIMENSIONS)
    for n in range(200):
        seed.add("s", f"e{n}", unit(1, n))
    seed.close()

    def start(_: int) -> int:
        index = VectorIndex.open(path, "model-a", DIMENSIONS)
        index.close()
        return len(index)

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(start, range(40))) == [200] * 40


def test_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "semantic.vectors"
    index = VectorIndex.open(path, "model-a", DIMENSIONS)
    index.add("s", "one", unit(1))
    index.add("s", "two", unit(0, 1))
    index.close()
    path.write_bytes(path.read_bytes()[:-5])  # a crash in the middle of the last write

    again = VectorIndex.open(path, "model-a", DIMENSIONS)
    assert [id for id, _ in again.search("s", unit(1), k=5)] == ["one"]
    again.close()


def test_vectors_of_another_embedder_are_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "semantic.vectors"
    index = VectorIndex.open(path, "model-a", DIMENSIONS)
    index.add("s", "one", unit(1))
    index.close()

    other = VectorIndex.open(path, "model-b", DIMENSIONS)
    assert len(other) == 0
    assert path.with_suffix(".vectors.stale").exists()
    other.close()


def test_large_partitions_are_searched_through_an_hnsw_graph() -> None:
    pytest.importorskip("usearch")
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((300, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(DIMENSIONS, hnsw_from=200, background=False)
    for i, vector in enumerate(vectors):
        index.add("s", f"v{i}", vector)
    assert index.uses_graph("s")

    assert index.search("s", vectors[250])[0] == ("v250", pytest.approx(1.0, abs=1e-5))
    index.remove("s", "v250")
    assert index.search("s", vectors[250])[0][0] != "v250"
    index.add("s", "late", vectors[250])
    assert index.search("s", vectors[250])[0][0] == "late"


def test_an_entry_of_several_turns_ranks_by_its_least_similar_turn() -> None:
    """Two stored conversations end in the same question: the one whose earlier turn is also
    near ranks first, and its similarity is that of its least similar turn."""
    index = VectorIndex(DIMENSIONS)
    index.add("s", "about-yu", np.stack([unit(1, 0), unit(0, 0, 1)]))
    index.add("s", "about-curry", np.stack([unit(1, 0), unit(0, 0, 0, 1)]))
    query = np.stack([unit(1, 0.2), unit(0, 0, 0, 1, 0.1)])
    found = index.search("s", query, k=2)
    assert [id for id, _ in found] == ["about-curry", "about-yu"]
    assert found[0][1] == pytest.approx(min(float(unit(1, 0) @ query[0]), float(unit(0, 0, 0, 1) @ query[1])))
    assert index.vectors("s", "about-yu") == pytest.approx(np.stack([unit(1, 0), unit(0, 0, 1)]))
    assert index.search("s", unit(1, 0)) == []  # a query of another number of turns finds nothing
    with pytest.raises(ValueError, match="2 turns"):
        index.add("s", "short", unit(1, 0))


def test_entries_of_several_turns_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "semantic.vectors"
    index = VectorIndex.open(path, "model-a", DIMENSIONS)
    index.add("s", "one", unit(1, 0))
    index.add("c", "two", np.stack([unit(0, 1), unit(0, 0, 1), unit(1)]))
    index.close()
    again = VectorIndex.open(path, "model-a", DIMENSIONS)
    assert again.search("s", unit(1, 0))[0] == ("one", pytest.approx(1.0))
    assert again.search("c", np.stack([unit(0, 1), unit(0, 0, 1), unit(1)]))[0] == ("two", pytest.approx(1.0))
    again.close()


def test_a_journal_of_one_turn_per_entry_is_read_and_upgraded(tmp_path: Path) -> None:
    """The format before entries had several turns: kept across the upgrade, not set aside."""
    path = tmp_path / "semantic.vectors"
    header = b"SGVI1\n" + b'{"model":"model-a","dimensions":8}\n'
    record = struct.pack("<BHHd", 1, 1, 3, 500.0) + b"s" + b"old" + unit(1, 0).astype("<f4").tobytes()
    path.write_bytes(header + record)
    index = VectorIndex.open(path, "model-a", DIMENSIONS)
    assert index.search("s", unit(1, 0), now=0.0) == [("old", pytest.approx(1.0))]
    index.close()
    assert path.read_bytes().startswith(b"SGVI2\n")
    assert not path.with_suffix(".vectors.stale").exists()


def test_a_graph_over_entries_of_several_turns_is_re_scored_by_the_least_similar_turn() -> None:
    pytest.importorskip("usearch")
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((300, 2, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
    index = VectorIndex(DIMENSIONS, hnsw_from=200, background=False)
    for i, rows in enumerate(vectors):
        index.add("s", f"v{i}", rows)
    assert index.uses_graph("s")
    best = index.search("s", vectors[42])[0]
    assert best == ("v42", pytest.approx(1.0, abs=1e-5))
