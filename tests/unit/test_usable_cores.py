"""How many cores the platform's thread and process counts assume: affinity, capped by a cgroup quota."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mokg.config import cgroup_cpu_limit, usable_cores


def _write(path: Path, text: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for line in text.splitlines():
        name, _, value = line.partition("=")
        (path / name).write_text(value + "\n")


def test_v2_takes_the_tightest_quota_on_the_way_to_the_root(tmp_path: Path) -> None:
    _write(tmp_path / "box", "cpu.max=150000 100000")
    _write(tmp_path / "box" / "job", "cpu.max=max 100000")
    assert cgroup_cpu_limit("0::/box/job\n", tmp_path) == pytest.approx(1.5)
    # a tighter one deeper wins
    _write(tmp_path / "box" / "job", "cpu.max=50000 100000")
    assert cgroup_cpu_limit("0::/box/job\n", tmp_path) == pytest.approx(0.5)


def test_no_quota_anywhere_is_none(tmp_path: Path) -> None:
    _write(tmp_path / "box", "cpu.max=max 100000")
    assert cgroup_cpu_limit("0::/box\n", tmp_path) is None
    # a cgroup path the mount does not show (no cgroup namespace) reads nothing rather than failing
    assert cgroup_cpu_limit("0::/not/mounted\n", tmp_path) is None
    assert cgroup_cpu_limit("", tmp_path) is None


def test_v1_reads_the_cpu_controller_only(tmp_path: Path) -> None:
    _write(tmp_path / "cpu,cpuacct" / "docker" / "c1", "cpu.cfs_quota_us=200000\ncpu.cfs_period_us=100000")
    _write(tmp_path / "memory" / "docker" / "c1", "cpu.cfs_quota_us=100000\ncpu.cfs_period_us=100000")
    membership = "5:memory:/docker/c1\n4:cpu,cpuacct:/docker/c1\n"
    assert cgroup_cpu_limit(membership, tmp_path) == pytest.approx(2.0)
    _write(tmp_path / "cpu,cpuacct" / "docker" / "c1", "cpu.cfs_quota_us=-1\ncpu.cfs_period_us=100000")
    assert cgroup_cpu_limit(membership, tmp_path) is None


def test_a_garbled_quota_file_is_no_quota(tmp_path: Path) -> None:
    _write(tmp_path / "box", "cpu.max=lots")
    assert cgroup_cpu_limit("0::/box\n", tmp_path) is None


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity off Linux")
def test_a_process_pinned_to_one_core_counts_one() -> None:
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)
    one = min(os.sched_getaffinity(0))
    code = (
        f"import os; os.sched_setaffinity(0, {{{one}}}); "
        "from mokg.config import usable_cores; print(usable_cores())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
