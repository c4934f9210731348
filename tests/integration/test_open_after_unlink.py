"""A file removed or replaced on this mount stays readable through the descriptors that have it
open, as on a local filesystem: the mount keeps its bytes locally before the object goes, and
the bucket and listings show the change at once. Writes to such a file are never uploaded. Only
a change made by another client ends a reader with ESTALE."""
import errno
import os
import random
import subprocess

import pytest

from settle import settle

BUCKET = "test-bucket"
SIZE = 3 << 20

# Reads after the removal must reach the daemon, not caches filled before it: no block cache,
# or a block cache with no read-ahead (the first 4 KiB then bring in only the first block).
NO_CACHED_REST = [["--cache-size-mb", "0"], ["-o", "readahead_mb=0"]]


def recovered(m):
    staging = m.args[m.args.index("--staging-dir") + 1]
    folder = os.path.join(staging, BUCKET, "recovered")
    return os.listdir(folder) if os.path.isdir(folder) else []


def run(*cmd):
    res = subprocess.run(list(cmd), capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("args", NO_CACHED_REST, ids=["no-cache", "no-readahead"])
def test_reader_reads_on_after_the_file_is_removed_on_this_mount(fakegcs, mount, args):
    data = random.Random(1).randbytes(SIZE)
    fakegcs.put(BUCKET, "f.bin", data)
    m = mount(args=args)
    with open(m.p("f.bin"), "rb") as f:
        head = f.read(4096)
        run("rm", m.p("f.bin"))
        assert fakegcs.stat(BUCKET, "f.bin") is None
        assert fakegcs.list(BUCKET) == []
        assert os.listdir(m.path) == []
        assert not os.path.exists(m.p("f.bin"))
        rest = f.read()
        assert os.fstat(f.fileno()).st_size == SIZE
    assert head + rest == data


def test_reader_reads_the_old_content_after_another_file_is_renamed_over_it(fakegcs, mount):
    old = random.Random(2).randbytes(SIZE)
    new = random.Random(3).randbytes(SIZE // 2)
    fakegcs.put(BUCKET, "f.bin", old)
    fakegcs.put(BUCKET, "other.bin", new)
    m = mount(args=["--cache-size-mb", "0"])
    with open(m.p("f.bin"), "rb") as f:
        head = f.read(4096)
        run("mv", m.p("other.bin"), m.p("f.bin"))
        assert fakegcs.list(BUCKET) == ["f.bin"]
        assert fakegcs.get(BUCKET, "f.bin") == new
        with open(m.p("f.bin"), "rb") as g:
            assert g.read() == new
        rest = f.read()
    assert head + rest == old
    assert open(m.p("f.bin"), "rb").read() == new


def test_kept_file_leaves_nothing_behind_once_closed(fakegcs, mount):
    data = random.Random(4).randbytes(SIZE)
    fakegcs.put(BUCKET, "f.bin", data)
    m = mount(args=["--cache-size-mb", "0"])
    with open(m.p("f.bin"), "rb") as f:
        f.read(4096)
        os.unlink(m.p("f.bin"))
        f.seek(SIZE - 10)
        assert f.read() == data[-10:]
    settle(m)
    assert fakegcs.list(BUCKET) == []
    assert recovered(m) == []


def test_writes_to_a_file_another_was_renamed_over_are_dropped(fakegcs, mount):
    fakegcs.put(BUCKET, "doc.txt", b"old")
    fakegcs.put(BUCKET, "new.txt", b"replacement")
    m = mount()
    with open(m.p("doc.txt"), "r+b") as f:
        f.write(b"scratch")
        f.flush()
        run("mv", m.p("new.txt"), m.p("doc.txt"))
        f.write(b" more")
        f.seek(0)
        assert f.read() == b"scratch more"
    settle(m)
    assert fakegcs.list(BUCKET) == ["doc.txt"]
    assert fakegcs.get(BUCKET, "doc.txt") == b"replacement"
    assert open(m.p("doc.txt"), "rb").read() == b"replacement"
    assert recovered(m) == []


def test_a_file_that_cannot_be_kept_is_still_removed(fakegcs, mount, tmp_path):
    data = random.Random(5).randbytes(SIZE)
    fakegcs.put(BUCKET, "f.bin", data)
    staging = tmp_path / "tiny"
    staging.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(staging)], check=True)
    try:
        m = mount(args=["--staging-dir", str(staging), "--cache-size-mb", "0"])
        m.expect_log(r"f\.bin: not kept .*no room in the staging folder")
        m.expect_log(r"f\.bin: generation \d+ is gone")
        with open(m.p("f.bin"), "rb") as f:
            f.read(4096)
            run("rm", m.p("f.bin"))
            assert fakegcs.list(BUCKET) == []
            assert os.listdir(m.path) == []
            f.seek(SIZE - 10)
            with pytest.raises(OSError) as ei:
                f.read()
            assert ei.value.errno == errno.ESTALE
        assert "no room in the staging folder" in m.log()
    finally:
        m.stop()
        subprocess.run(["umount", "-l", str(staging)])


def test_reader_still_gets_estale_when_another_client_deletes_the_file(fakegcs, mount):
    data = random.Random(6).randbytes(SIZE)
    fakegcs.put(BUCKET, "f.bin", data)
    m = mount(args=["--cache-size-mb", "0"])
    m.expect_log(r"f\.bin: generation \d+ is gone")
    with open(m.p("f.bin"), "rb") as f:
        f.read(4096)
        assert fakegcs.delete(BUCKET, "f.bin")
        f.seek(SIZE - 10)
        with pytest.raises(OSError) as ei:
            f.read()
    assert ei.value.errno == errno.ESTALE


@pytest.mark.parametrize("op,cmd", [("objects.delete", "rm"), ("objects.move", "mv")])
def test_failed_removal_leaves_the_reader_as_it_was(fakegcs, mount, op, cmd):
    data = random.Random(7).randbytes(SIZE)
    fakegcs.put(BUCKET, "f.bin", data)
    fakegcs.put(BUCKET, "other.bin", b"other")
    m = mount(args=["--cache-size-mb", "0", "-o", "max_retries=1"])
    m.expect_log(op.replace(".", r"\.") + r" ")
    m.expect_log(r"f\.bin: generation \d+ is gone")
    with open(m.p("f.bin"), "rb") as f:
        head = f.read(4096)
        fakegcs.fault(op, status=403, count=1)
        argv = ["rm", m.p("f.bin")] if cmd == "rm" else ["mv", m.p("other.bin"), m.p("f.bin")]
        assert subprocess.run(argv, capture_output=True, timeout=120).returncode != 0
        fakegcs.clear_faults()
        assert sorted(fakegcs.list(BUCKET)) == ["f.bin", "other.bin"]
        assert head + f.read(SIZE // 2) == data[: 4096 + SIZE // 2]
        # Still read from the bucket, pinned to its generation: another client's change
        # ends it, as before the attempt.
        fakegcs.put(BUCKET, "f.bin", b"someone else's")
        with pytest.raises(OSError) as ei:
            f.read()
        assert ei.value.errno == errno.ESTALE
