"""datasync: incremental, resumable pushes that keep the manifest truthful; the walk and hash rules.

The scenario helpers take a backend factory, so the same bodies run against the Modal backend
(pointed at the fake control plane) once it exists: `incremental_push_scenario(make_modal, tmp)`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from trainward.backends.base import Backend, Progress
from trainward.backends.local import LocalBackend
from trainward.data import lease as pushlease
from trainward.data import sync as datasync
from trainward.data.manifest import MANIFEST, Manifest, loads
from trainward.data.tree import HashCache, hash_tree
from trainward.errors import NotFound, Refused, UsageError

from tests.conftest import REPO, wait_for

VOL = "data"


class Counting:
    """Wraps any backend and records what `upload_files` sent (composition: fits every backend)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []
        self.bytes = 0

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def upload_files(
        self, volume: str, files: Sequence[tuple[Path, str]], *, progress: Progress | None = None
    ) -> None:
        self.calls.append([dst for _, dst in files])
        self.bytes += sum(Path(src).stat().st_size for src, _ in files)
        self.inner.upload_files(volume, files, progress=progress)

    @property
    def sent(self) -> list[str]:
        return [p for call in self.calls for p in call]


class FailOnCall(Counting):
    """Wraps any backend; its `fail_on`-th upload_files call raises, as a dropped connection would."""

    def __init__(self, inner: Backend, fail_on: int) -> None:
        super().__init__(inner)
        self.fail_on = fail_on

    def upload_files(
        self, volume: str, files: Sequence[tuple[Path, str]], *, progress: Progress | None = None
    ) -> None:
        if len(self.calls) + 1 == self.fail_on:
            raise ConnectionError("connection reset mid-upload")
        super().upload_files(volume, files, progress=progress)


def make_dataset(root: Path, n: int, *, size: int = 600, seed: int = 0) -> None:
    rng = random.Random(seed)
    for i in range(n):
        path = root / f"part-{i % 4}" / f"f-{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size + i % 7))
    time.sleep(0.15)  # past the racily-clean window, so these hashes are cached


def remote_manifest(backend: Any, dest: str) -> Manifest:
    return loads(backend.read_file(VOL, f"{dest}/{MANIFEST}"))


def local_view(src: Path) -> dict[str, tuple[int, str]]:
    with HashCache.open() as cache:
        files, _ = hash_tree(src, cache=cache)
    return {p: (f.sig.size, f.sha256) for p, f in files.items()}


def remote_view(backend: Any, dest: str) -> dict[str, tuple[int, str]]:
    return {p: (f.size, f.sha256) for p, f in remote_manifest(backend, dest).files.items()}


def rewrite_same_size(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(bytes(b ^ 0x5A for b in data))


# -- scenarios (reused with other backends) ------------------------------------------------------


def incremental_push_scenario(make_backend: Callable[[], Backend], tmp: Path) -> None:
    """200 files pushed; one changed (same size); the second push sends exactly that file."""
    src, dest = tmp / "ds", "datasets/inc"
    make_dataset(src, 200)
    backend = Counting(make_backend())
    first = datasync.push(backend, src, VOL, dest)  # type: ignore[arg-type]
    assert first.uploaded_files == 200 and len(backend.sent) == 200 and not first.up_to_date
    assert remote_view(backend, dest) == local_view(src)

    backend.calls.clear()
    backend.bytes = 0
    rewrite_same_size(src / "part-3" / "f-0123.bin")
    second = datasync.push(backend, src, VOL, dest)  # type: ignore[arg-type]
    summary = second.to_dict()
    assert summary["files_to_upload"] == 1 and summary["changed"] == 1 and summary["new"] == 0
    assert summary["uploaded_files"] == 1 and summary["unchanged"] == 199
    assert summary["paths"]["changed"] == ["part-3/f-0123.bin"]
    assert backend.calls == [[f"{dest}/part-3/f-0123.bin"]]
    assert (
        backend.bytes == (src / "part-3" / "f-0123.bin").stat().st_size == summary["uploaded_bytes"]
    )
    assert second.hashing["hashed"] == 1 and second.hashing["cached"] == 199
    assert remote_view(backend, dest) == local_view(src)

    backend.calls.clear()
    third = datasync.push(backend, src, VOL, dest)  # type: ignore[arg-type]
    assert third.up_to_date and third.uploaded_files == 0 and backend.calls == []


def resumable_push_scenario(
    make_failing: Callable[[], Backend], make_backend: Callable[[], Backend], tmp: Path
) -> None:
    """A push that dies on its 4th batch of 20 resumes: the rerun sends exactly the 140 missing files."""
    src, dest = tmp / "ds", "datasets/resume"
    make_dataset(src, 200)
    with pytest.raises(ConnectionError):
        datasync.push(make_failing(), src, VOL, dest, batch_files=20)
    backend = Counting(make_backend())
    partial = remote_manifest(backend, dest)
    assert not partial.complete and len(partial.files) == 60
    plan = datasync.status(backend, src, VOL, dest)  # type: ignore[arg-type]
    assert plan.remote_manifest == "incomplete" and len(plan.new) == 140
    resumed = datasync.push(backend, src, VOL, dest, batch_files=20)  # type: ignore[arg-type]
    assert resumed.uploaded_files == 140 and len(backend.sent) == 140
    assert not {f"{dest}/{p}" for p in partial.files} & set(backend.sent)
    final = remote_manifest(backend, dest)
    assert final.complete and remote_view(backend, dest) == local_view(src)


# -- the scenarios on the local backend ------------------------------------------------------------


def test_incremental_push_sends_only_the_changed_file(tmp_path: Path) -> None:
    incremental_push_scenario(LocalBackend, tmp_path)


def test_interrupted_push_resumes_with_only_the_missing_files(tmp_path: Path) -> None:
    resumable_push_scenario(lambda: FailOnCall(LocalBackend(), fail_on=4), LocalBackend, tmp_path)


def test_push_killed_mid_batch_resumes(tmp_path: Path, tw_home: Path) -> None:
    """SIGKILL a real push process mid-upload; the rerun completes it and takes over its lease."""
    src, dest = tmp_path / "ds", "datasets/killed"
    make_dataset(src, 80)
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom trainward.data import sync as datasync\n"
        "from trainward.backends.local import LocalBackend\n"
        "class Slow(LocalBackend):\n"
        "    def upload_files(self, volume, files, *, progress=None):\n"
        "        for f in files:\n            time.sleep(0.02)\n            super().upload_files(volume, [f])\n"
        f"datasync.push(Slow(), Path(sys.argv[1]), {VOL!r}, {dest!r}, batch_files=10)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(src)],
        cwd=REPO,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    backend = Counting(LocalBackend())
    try:
        wait_for(lambda: _recorded(backend, dest) >= 20, timeout=60, what="two batches recorded")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    recorded = _recorded(backend, dest)
    assert 20 <= recorded < 80
    lease = pushlease.read_lease(backend, VOL, dest)
    assert lease is not None and lease["stale"]  # the dead pid's lease is left behind, and stale
    resumed = datasync.push(backend, src, VOL, dest)  # type: ignore[arg-type]
    assert resumed.uploaded_files == 80 - recorded == len(backend.sent)
    assert remote_manifest(backend, dest).complete and remote_view(backend, dest) == local_view(src)
    assert pushlease.read_lease(backend, VOL, dest) is None


def _recorded(backend: Any, dest: str) -> int:
    try:
        return len(remote_manifest(backend, dest).files)
    except NotFound:
        return 0


# -- the manifest invariant ---------------------------------------------------------------------


def test_a_changed_file_whose_upload_fails_is_not_recorded(tmp_path: Path) -> None:
    src, dest = tmp_path / "ds", "datasets/inv"
    make_dataset(src, 10)
    datasync.push(LocalBackend(), src, VOL, dest)
    target = src / "part-1" / "f-0005.bin"
    original = target.read_bytes()
    rewrite_same_size(target)
    with pytest.raises(ConnectionError):
        datasync.push(FailOnCall(LocalBackend(), fail_on=1), src, VOL, dest)  # type: ignore[arg-type]
    assert "part-1/f-0005.bin" not in remote_manifest(LocalBackend(), dest).files
    target.write_bytes(
        original
    )  # even back to the old bytes, it is sent: the volume may hold either
    backend = Counting(LocalBackend())
    assert datasync.push(backend, src, VOL, dest).new == ["part-1/f-0005.bin"]  # type: ignore[arg-type]
    assert remote_view(backend, dest) == local_view(src)


def test_a_file_modified_during_the_push_is_sent_but_not_recorded(tmp_path: Path) -> None:
    src, dest = tmp_path / "ds", "datasets/moving"
    make_dataset(src, 5)
    target = src / "part-2" / "f-0002.bin"

    class Scribble(LocalBackend):
        def upload_files(
            self,
            volume: str,
            files: Sequence[tuple[Path, str]],
            *,
            progress: Progress | None = None,
        ) -> None:
            target.write_bytes(b"written while pushing")
            super().upload_files(volume, files, progress=progress)

    plan = datasync.push(Scribble(), src, VOL, dest)
    assert plan.not_recorded == ["part-2/f-0002.bin"] and plan.uploaded_files == 5
    assert "part-2/f-0002.bin" not in remote_manifest(LocalBackend(), dest).files
    again = datasync.push(LocalBackend(), src, VOL, dest)
    assert again.new == ["part-2/f-0002.bin"] and remote_view(LocalBackend(), dest) == local_view(
        src
    )


def test_the_remote_is_compared_again_under_the_lease(tmp_path: Path) -> None:
    """Another push lands between our plan and our lease: what we record must still be true."""
    src, other, dest = tmp_path / "mine", tmp_path / "theirs", "datasets/race"
    make_dataset(src, 4)
    make_dataset(other, 4)
    datasync.push(LocalBackend(), src, VOL, dest)
    rewrite_same_size(src / "part-0" / "f-0000.bin")
    rewrite_same_size(other / "part-1" / "f-0001.bin")  # theirs differs from ours and the volume's
    raced: list[bool] = []

    class Racer(LocalBackend):
        def ensure_volume(self, volume: str) -> None:  # runs after our plan, before our lease
            super().ensure_volume(volume)
            if not raced:
                raced.append(True)
                datasync.push(LocalBackend(), other, VOL, dest)

    plan = datasync.push(Racer(), src, VOL, dest)
    assert raced and sorted(plan.changed) == ["part-0/f-0000.bin", "part-1/f-0001.bin"]
    root = LocalBackend().volume_root(VOL) / dest
    for rel in local_view(src):
        assert (root / rel).read_bytes() == (src / rel).read_bytes(), rel
    assert remote_view(LocalBackend(), dest) == local_view(src)


@pytest.mark.parametrize(
    "garbage",
    [
        b"{not json",
        b'{"schema": "other", "version": 1}',
        b"[]",
        b'{"schema":"trainward.manifest","version":1,"complete":true,"files":[{"path":"../x","size":1,"mtime":0,"sha256":"'
        + b"0" * 64
        + b'"}]}',
        b'{"schema":"trainward.manifest","version":1,"complete":true,"files":[{"path":"a","size":-1,"mtime":0,"sha256":"'
        + b"0" * 64
        + b'"}]}',
        b'{"schema":"trainward.manifest","version":1,"complete":true,"files":[{"path":"a","size":1,"mtime":0,"sha256":"XYZ"}]}',
    ],
)
def test_an_untrusted_remote_manifest_means_a_full_upload(tmp_path: Path, garbage: bytes) -> None:
    src, dest = tmp_path / "ds", "datasets/bad"
    make_dataset(src, 6)
    backend = LocalBackend()
    datasync.push(backend, src, VOL, dest)
    backend.write_file(VOL, f"{dest}/{MANIFEST}", garbage)
    plan = datasync.push(backend, src, VOL, dest)
    assert plan.remote_manifest == "invalid" and plan.remote_manifest_error
    assert plan.uploaded_files == 6 and remote_view(backend, dest) == local_view(src)


def test_verify_rechecks_the_volume_listing(tmp_path: Path) -> None:
    src, dest = tmp_path / "ds", "datasets/ver"
    make_dataset(src, 12)
    backend = Counting(LocalBackend())
    datasync.push(backend, src, VOL, dest)  # type: ignore[arg-type]
    root = LocalBackend().volume_root(VOL) / dest
    (root / "part-0" / "f-0004.bin").unlink()
    (root / "part-1" / "f-0005.bin").write_bytes(b"truncated")
    (root / "stray.txt").write_bytes(b"not ours")
    assert datasync.push(backend, src, VOL, dest).up_to_date  # type: ignore[arg-type]  # the manifest is trusted
    backend.calls.clear()
    plan = datasync.push(backend, src, VOL, dest, verify=True)  # type: ignore[arg-type]
    assert plan.verified == {
        "listed": 12,
        "missing": ["part-0/f-0004.bin"],
        "size_mismatch": ["part-1/f-0005.bin"],
        "unrecorded": ["stray.txt"],
    }
    assert sorted(backend.sent) == [f"{dest}/part-0/f-0004.bin", f"{dest}/part-1/f-0005.bin"]
    assert plan.remote_only == ["stray.txt"] and (root / "stray.txt").exists()
    assert datasync.status(backend, src, VOL, dest, verify=True).up_to_date  # type: ignore[arg-type]


# -- one push per destination ---------------------------------------------------------------------


def test_a_concurrent_push_to_the_same_destination_is_refused(tmp_path: Path) -> None:
    src, dest = tmp_path / "ds", "datasets/busy"
    make_dataset(src, 3)
    backend = LocalBackend()
    backend.ensure_volume(VOL)
    with pushlease.push_lease(backend, VOL, dest), pytest.raises(Refused, match="another push"):
        datasync.push(backend, src, VOL, dest)
    assert pushlease.read_lease(backend, VOL, dest) is None
    lease = {
        "token": "t",
        "host": "other-host",
        "pid": 1,
        "started_at": time.time(),
        "renewed_at": time.time(),
    }
    backend.write_file(VOL, f"{dest}/{pushlease.LEASE}", json.dumps(lease).encode())
    with pytest.raises(Refused, match="host other-host"):
        datasync.push(backend, src, VOL, dest)
    assert not datasync.status(backend, src, VOL, dest).up_to_date  # status still reads
    lease["renewed_at"] = time.time() - pushlease.LEASE_TTL - 1  # expired: taken over
    backend.write_file(VOL, f"{dest}/{pushlease.LEASE}", json.dumps(lease).encode())
    assert datasync.push(backend, src, VOL, dest).uploaded_files == 3


def test_a_dead_local_pushers_lease_is_stale() -> None:
    backend = LocalBackend()
    backend.ensure_volume(VOL)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lease = {"token": "t", "host": socket.gethostname(), "pid": dead.pid, "renewed_at": time.time()}
    backend.write_file(VOL, f"d/{pushlease.LEASE}", json.dumps(lease).encode())
    assert pushlease.read_lease(backend, VOL, "d")["stale"]  # type: ignore[index]


# -- the walk, the hash cache, the paths ----------------------------------------------------------


def test_hidden_files_and_the_manifest_are_excluded_file_symlinks_followed(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    make_dataset(src, 2)
    (src / ".cache").mkdir()
    (src / ".cache" / "junk").write_bytes(b"x")
    (src / ".DS_Store").write_bytes(b"x")
    (src / MANIFEST).write_bytes(b"{}")
    (tmp_path / "outside.bin").write_bytes(b"linked bytes")
    (src / "link.bin").symlink_to(tmp_path / "outside.bin")
    assert sorted(local_view(src)) == ["link.bin", "part-0/f-0000.bin", "part-1/f-0001.bin"]
    datasync.push(LocalBackend(), src, VOL, "datasets/links")
    pushed = LocalBackend().volume_root(VOL) / "datasets/links/link.bin"
    assert not pushed.is_symlink() and pushed.read_bytes() == b"linked bytes"


@pytest.mark.parametrize("kind", ["dir-link", "dangling"])
def test_directory_and_dangling_symlinks_are_refused(tmp_path: Path, kind: str) -> None:
    src = tmp_path / "ds"
    make_dataset(src, 1)
    (tmp_path / "elsewhere").mkdir()
    (src / "link").symlink_to(tmp_path / ("elsewhere" if kind == "dir-link" else "missing"))
    with pytest.raises(UsageError, match="directory" if kind == "dir-link" else "dangling"):
        datasync.plan_push(LocalBackend(), src, VOL, "datasets/x")


@pytest.mark.parametrize("dest", ["", "/", "..", "a/../../b", "datasets/.hidden"])
def test_unsafe_destinations_are_refused(tmp_path: Path, dest: str) -> None:
    make_dataset(tmp_path / "ds", 1)
    with pytest.raises(UsageError):
        datasync.push(LocalBackend(), tmp_path / "ds", VOL, dest)


def test_missing_source_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        datasync.plan_push(LocalBackend(), tmp_path / "nope", VOL, "datasets/x")


def test_hash_cache_is_keyed_by_the_stat_signature(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    make_dataset(src, 20)
    with HashCache.open() as cache:
        assert hash_tree(src, cache=cache)[1].hashed == 20
        assert hash_tree(src, cache=cache)[1].cached == 20
        target = src / "part-0" / "f-0008.bin"
        st = target.stat()
        replacement = tmp_path / "replacement"
        replacement.write_bytes(bytes(b ^ 1 for b in target.read_bytes()))
        os.replace(replacement, target)  # same size; mtime set back: only ctime and inode tell
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        files, stats = hash_tree(src, cache=cache)
    assert stats.hashed == 1 and stats.cached == 19
    assert files["part-0/f-0008.bin"].sha256 == local_view(src)["part-0/f-0008.bin"][1]


def test_racily_clean_files_are_not_cached(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    src.mkdir()
    (src / "fresh.bin").write_bytes(b"just written")
    (src / "old.bin").write_bytes(b"written long ago")
    soon = (
        time.time_ns() + 1_000_000_000
    )  # an mtime in the same tick as the hashing, deterministically
    os.utime(src / "fresh.bin", ns=(soon, soon))
    time.sleep(0.15)
    with HashCache.open() as cache:
        hash_tree(src, cache=cache)
        files, stats = hash_tree(src, cache=cache)
    assert stats.hashed == 1 and stats.cached == 1 and files["fresh.bin"].sha256


def test_a_corrupt_hash_cache_is_replaced(tmp_path: Path, tw_home: Path) -> None:
    make_dataset(tmp_path / "ds", 3)
    cache_file = tw_home / "cache" / "hashes.sqlite3"
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(b"this is not sqlite" * 100)
    with HashCache.open() as cache:
        assert hash_tree(tmp_path / "ds", cache=cache)[1].hashed == 3
    with HashCache.open() as cache:
        assert hash_tree(tmp_path / "ds", cache=cache)[1].cached == 3
