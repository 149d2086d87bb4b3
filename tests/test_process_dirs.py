"""A per-process directory (the log spool's, the charge journal's) is never taken for a dead
process's while its process is still claiming it: the workers of `serve --workers N` start together,
and one that adopted another's directory removed it, files and all, under the live worker (which
then died on its next file: FileNotFoundError)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Runs in a process of its own (an audit hook cannot be removed): at the moment `claim` locks its
# lock, another process starting now looks at the directory as an adopter does.
CLAIM_WHILE_ANOTHER_LOOKS = """
import sys
from pathlib import Path
from sluicegate import process_dirs

root = Path(sys.argv[1])
mine = root / "mine"
seen: list[bool] = []

def another_process_looks(event: str, args: tuple[object, ...]) -> None:
    if event == "fcntl.flock" and not seen:
        seen.append(False)  # once: the look's own flock comes through here too
        with process_dirs.orphaned(mine) as left:
            seen[0] = left

sys.addaudithook(another_process_looks)
lock = process_dirs.claim(root, mine)
print("taken for a dead process's" if seen[0] else "left alone")
"""


def test_a_directory_being_claimed_is_not_taken_for_a_dead_process_s(tmp_path: Path) -> None:
    looked = subprocess.run(
        [sys.executable, "-c", CLAIM_WHILE_ANOTHER_LOOKS, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert looked.returncode == 0, looked.stderr
    assert looked.stdout.strip() == "left alone"
    assert sorted(path.name for path in (tmp_path / "mine").iterdir()) == ["lock"]
