"""Full disks: the HF cache, spark-tui's cache and its state folder each on a tiny tmpfs (root only; skipped
elsewhere). A full disk is said in one sentence, keeps what was already there, and never leaves a half-written
file that looks whole."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import Sandbox, judge
from tests.faults.test_hub import MODEL, tiny  # noqa: F401  (the module-scoped repo fixture)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[Path, int], Path]]:
    mounted: list[Path] = []

    def mount(where: Path, size_kib: int) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(folder: Path) -> None:
    """Fill the file system under `folder` to the last byte."""
    with open(folder / ".filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    try:
        with open(folder / ".filler2", "wb") as fh:  # the last partial block
            while True:
                fh.write(b"\0")
                fh.flush()
    except OSError:
        pass


def test_pull_onto_a_full_disk(sandbox: Sandbox, tmpfs: Callable[[Path, int], Path], tiny: str) -> None:  # noqa: F811
    hub = tmpfs(sandbox.hf_home / "hub", 768)  # room for the config, not for the 1 MiB of weights
    outcome = sandbox.run("pull", tiny, "--force")
    judge(outcome, area="disk", command="pull TINY --force", fault="HF cache disk fills up mid-file",
          contains="space")
    assert not list(hub.glob("models--*/snapshots/*/model.safetensors")), "a cut file looks complete"


def test_pull_refuses_when_it_cannot_fit(sandbox: Sandbox, tmpfs: Callable[[Path, int], Path],
                                         tiny: str) -> None:  # noqa: F811
    tmpfs(sandbox.hf_home / "hub", 512)
    outcome = sandbox.run("pull", tiny)
    judge(outcome, area="disk", command="pull TINY", fault="not enough free space before starting", codes=1,
          sentence=False, contains="free")


def test_check_with_a_full_cache_disk(sandbox: Sandbox, tmpfs: Callable[[Path, int], Path]) -> None:
    cache = tmpfs(sandbox.cache, 256)
    _fill(cache)
    outcome = sandbox.run("check", MODEL, "--hardware", "gb10", "--json")
    # The advice does not need the cache: it answers, and only speed is lost.
    judge(outcome, area="disk", command="check MODEL --json", fault="spark-tui's cache disk is full",
          codes=(0, 1, 2), sentence=False)
    assert json.loads(outcome.out)["verdict"]


def test_serve_with_a_full_state_disk(sandbox: Sandbox, tmpfs: Callable[[Path, int], Path]) -> None:
    from tests.support.stand_ins import stand_in

    sandbox.env["SPARK_TUI_VLLM"] = str(stand_in(sandbox.root / "bin" / "vllm", "fake_vllm.py"))
    state = tmpfs(sandbox.state, 256)
    _fill(state)
    from tests.faults.test_processes import _free_port

    outcome = sandbox.run("serve", MODEL, "--hardware", "gb10", "--port", str(_free_port()), "--name", "full")
    judge(outcome, area="disk", command="serve MODEL", fault="state folder's disk is full", contains="space")
    for record in state.rglob("*.json"):
        json.loads(record.read_text())  # whatever is there is whole
