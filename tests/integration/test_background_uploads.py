"""Background uploads: close makes the data durable locally and queues its upload, so a program
writing many files in a row does not wait a round trip per file. fsync waits for the upload,
failures still end in the recovery folder, and a file whose upload is queued can be reopened,
read, renamed and unlinked as usual.

The test server stores an object as soon as it has read the request; a stall fault then holds
the answer back. Stalled uploads keep every worker busy, so files closed meanwhile wait in the
queue: that is how these tests catch the queue with files in it."""
import errno
import glob
import os
import random
import signal
import subprocess
import time

import pytest
from mounting import gcsmount_binary
from settle import settle

BUCKET = "test-bucket"
WORKERS = 32  # UPLOAD_WORKERS in fs/upload.h


def wait_until(cond, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def stored(fakegcs, name):
    return fakegcs.stat(BUCKET, name) is not None


def recovered_dir(staging):
    return os.path.join(staging, BUCKET, "recovered")


def recovered_contents(staging):
    """Every file under the recovery folder (orphaned folders included): path -> bytes."""
    out = {}
    for path in glob.glob(os.path.join(recovered_dir(staging), "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[path] = f.read()
    return out


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def occupy_workers(fakegcs, m, seconds, prefix="busy"):
    """Stalls the next WORKERS uploads for seconds and starts them, so that every worker is
    held; returns their names and contents."""
    fakegcs.fault("objects.insert", count=WORKERS, stall=seconds)
    files = {}
    for i in range(WORKERS):
        name = "%s-%02d" % (prefix, i)
        files[name] = b"busy %d\n" % i
        write_file(m.p(name), files[name])
    # Every worker has sent its request once the server stored every object.
    wait_until(lambda: all(stored(fakegcs, n) for n in files), what="the stalled uploads")
    return files


def drain(fakegcs, m, name):
    """Waits until the queue took every file closed before now: it is first in, first out,
    so once a file closed last is stored, the ones before it were taken too."""
    write_file(m.p(name), b"marker")
    wait_until(lambda: stored(fakegcs, name), what="the marker " + name)
    time.sleep(0.5)


def test_many_files_written_in_a_row_all_land_with_their_bytes(fakegcs, mount):
    m = mount()
    rng = random.Random(21)
    files = {"batch/f%04d" % i: rng.randbytes(64 << 10) for i in range(300)}
    os.mkdir(m.p("batch"))
    fakegcs.clear_log()
    for name, data in files.items():
        write_file(m.p(name), data)
    wait_until(lambda: len(fakegcs.list(BUCKET, "batch/f")) == len(files), what="300 objects")
    for name, data in files.items():
        assert fakegcs.get(BUCKET, name) == data
    # One request per file: the queue never uploads a file twice.
    assert fakegcs.count("objects.insert") == len(files)


def test_close_does_not_wait_a_round_trip_per_file(fakegcs, mount):
    m = mount()
    fakegcs.shape(latency_ms=300)
    start = time.monotonic()
    for i in range(30):
        write_file(m.p("slow-%02d" % i), b"x" * 1000)
    closed = time.monotonic() - start
    # Uploading in close would take 30 x 300 ms; queued, they run side by side.
    assert closed < 3.0
    wait_until(lambda: len(fakegcs.list(BUCKET, "slow-")) == 30, what="30 objects")
    fakegcs.shape()


def test_fsync_returns_once_the_object_is_in_the_bucket(fakegcs, mount):
    m = mount()
    fakegcs.shape(latency_ms=200)
    with open(m.p("synced.txt"), "wb") as f:
        f.write(b"durable in the bucket")
        f.flush()
        os.fsync(f.fileno())
        assert fakegcs.get(BUCKET, "synced.txt") == b"durable in the bucket"
    fakegcs.shape()


def test_fsync_of_a_file_whose_upload_is_queued_uploads_it_now(fakegcs, mount):
    m = mount()
    occupy_workers(fakegcs, m, 4)
    write_file(m.p("queued.txt"), b"waiting in the queue")
    assert not stored(fakegcs, "queued.txt")
    fd = os.open(m.p("queued.txt"), os.O_RDONLY)
    try:
        os.fsync(fd)
        assert fakegcs.get(BUCKET, "queued.txt") == b"waiting in the queue"
    finally:
        os.close(fd)


def test_a_conflict_found_in_the_background_is_recovered_and_logged(fakegcs, mount, tmp_path):
    fakegcs.put(BUCKET, "contested.txt", b"original")
    staging = str(tmp_path / "staging-c")
    m = mount(args=["--staging-dir", staging])
    m.expect_log(r"contested\.txt: not uploaded: the object was changed by someone else")
    f = open(m.p("contested.txt"), "r+b")
    f.write(b"MINE")
    fakegcs.put(BUCKET, "contested.txt", b"someone else's version")
    f.close()  # queued: the conflict is found by the worker
    wait_until(lambda: recovered_contents(staging), what="the recovered copy")
    assert list(recovered_contents(staging).values()) == [b"MINEinal"]
    saved = next(iter(recovered_contents(staging)))
    assert "contested.txt" in saved
    wait_until(lambda: os.path.basename(saved) in m.log(), what="the log line")
    assert fakegcs.get(BUCKET, "contested.txt") == b"someone else's version"


def test_fsync_reports_the_error_of_a_background_upload(fakegcs, mount):
    fakegcs.put(BUCKET, "shared.txt", b"original")
    m = mount()
    m.expect_log(r"shared\.txt: not uploaded: the object was changed by someone else")
    keeper = open(m.p("shared.txt"), "rb")
    f = open(m.p("shared.txt"), "r+b")
    f.write(b"MINE")
    fakegcs.put(BUCKET, "shared.txt", b"theirs")
    f.close()  # another descriptor stays open: the upload runs in the background
    wait_until(lambda: "shared.txt: not uploaded" in m.log(), what="the conflict")
    with pytest.raises(OSError) as ei:
        os.fsync(keeper.fileno())
    assert ei.value.errno == errno.ESTALE
    os.fsync(keeper.fileno())  # reported once
    keeper.close()


def test_a_background_upload_that_fails_for_good_is_recovered(fakegcs, mount, tmp_path):
    staging = str(tmp_path / "staging-f")
    m = mount(args=["--staging-dir", staging, "-o", "max_retries=1"])
    m.expect_log(r"objects\.insert")
    m.expect_log(r"doomed\.txt: upload failed")
    fakegcs.fault("objects.insert", count=1000, status=500)
    write_file(m.p("doomed.txt"), b"precious data")  # close succeeds: the data is safe here
    wait_until(lambda: recovered_contents(staging), what="the recovered copy")
    fakegcs.clear_faults()
    assert list(recovered_contents(staging).values()) == [b"precious data"]
    assert not stored(fakegcs, "doomed.txt")


def test_a_file_whose_upload_is_queued_reads_stats_and_lists_as_written(fakegcs, mount):
    m = mount()
    occupy_workers(fakegcs, m, 4)
    write_file(m.p("pending.txt"), b"not in the bucket yet")
    assert not stored(fakegcs, "pending.txt")
    assert os.stat(m.p("pending.txt")).st_size == len(b"not in the bucket yet")
    with open(m.p("pending.txt"), "rb") as f:
        assert f.read() == b"not in the bucket yet"
    # The kernel forgetting the name must not make the file vanish before its upload.
    subprocess.run(["sh", "-c", "echo 2 > /proc/sys/vm/drop_caches"], check=True)
    assert os.stat(m.p("pending.txt")).st_size == len(b"not in the bucket yet")
    assert not stored(fakegcs, "pending.txt")
    # Whether its upload has ended meanwhile or not, the file is listed.
    assert "pending.txt" in os.listdir(m.path)
    wait_until(lambda: stored(fakegcs, "pending.txt"), what="the upload")
    assert fakegcs.get(BUCKET, "pending.txt") == b"not in the bucket yet"


def test_reopening_a_file_whose_upload_is_queued_continues_from_its_data(fakegcs, mount):
    m = mount()
    occupy_workers(fakegcs, m, 4)
    write_file(m.p("grow.txt"), b"hello")
    with open(m.p("grow.txt"), "ab") as f:
        f.write(b" world")
    with open(m.p("grow.txt"), "rb") as f:
        assert f.read() == b"hello world"
    wait_until(lambda: stored(fakegcs, "grow.txt") and
               fakegcs.get(BUCKET, "grow.txt") == b"hello world", what="the final upload")
    time.sleep(0.5)
    assert fakegcs.get(BUCKET, "grow.txt") == b"hello world"


def test_renaming_a_file_whose_upload_is_queued_moves_its_data(fakegcs, mount):
    m = mount()
    occupy_workers(fakegcs, m, 4)
    write_file(m.p("before.txt"), b"renamed while queued")
    assert not stored(fakegcs, "before.txt")
    os.rename(m.p("before.txt"), m.p("after.txt"))
    assert fakegcs.get(BUCKET, "after.txt") == b"renamed while queued"
    assert not stored(fakegcs, "before.txt")
    with open(m.p("after.txt"), "rb") as f:
        assert f.read() == b"renamed while queued"
    # The queued upload finds nothing left to do: the name before the rename never returns.
    drain(fakegcs, m, "marker")
    assert not stored(fakegcs, "before.txt")
    # Uploaded once (under the old name) and moved: 16 stalled uploads, it, and the marker.
    assert fakegcs.count("objects.insert") == WORKERS + 2
    assert fakegcs.count("objects.move") == 1
    assert fakegcs.get(BUCKET, "after.txt") == b"renamed while queued"


def test_unlinking_a_file_whose_upload_is_queued_cancels_the_upload(fakegcs, mount):
    m = mount()
    occupy_workers(fakegcs, m, 3)
    write_file(m.p("short-lived.tmp"), b"never needed in the bucket")
    os.unlink(m.p("short-lived.tmp"))
    assert not os.path.exists(m.p("short-lived.tmp"))
    drain(fakegcs, m, "marker")
    assert fakegcs.count("objects.insert") == WORKERS + 1  # the stalled ones and the marker
    assert not stored(fakegcs, "short-lived.tmp")


def test_unmount_uploads_every_queued_file(fakegcs, mount):
    m = mount()
    busy = occupy_workers(fakegcs, m, 2)
    files = {"q%02d" % i: b"queued %d" % i for i in range(40)}
    for name, data in files.items():
        write_file(m.p(name), data)
    m.stop()
    assert m.proc.returncode == 0
    for name, data in {**busy, **files}.items():
        assert fakegcs.get(BUCKET, name) == data


def test_sigterm_uploads_every_queued_file(fakegcs, mount):
    m = mount()
    occupy_workers(fakegcs, m, 2)
    files = {"t%02d" % i: b"queued %d" % i for i in range(20)}
    for name, data in files.items():
        write_file(m.p(name), data)
    m.proc.send_signal(signal.SIGTERM)
    m.proc.wait(timeout=60)
    for name, data in files.items():
        assert fakegcs.get(BUCKET, name) == data


def test_a_daemon_killed_after_close_loses_nothing(fakegcs, mount, tmp_path):
    staging = str(tmp_path / "staging-k")
    m = mount(args=["--staging-dir", staging])
    busy = occupy_workers(fakegcs, m, 30)
    rng = random.Random(22)
    batch = {"batch-%02d" % i: rng.randbytes(5000 + i) for i in range(10)}
    for name, data in batch.items():
        write_file(m.p(name), data)
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=30)
    m.stop()
    fakegcs.clear_faults()

    m2 = mount(args=["--staging-dir", staging])
    m2.expect_log(r"a previous mount \(pid %d\) left data that was never uploaded" % m.proc.pid)
    saved = recovered_contents(staging)
    # The stalled uploads had reached the server; the batch had not left the queue, and the
    # next mount keeps it in the recovery folder, byte for byte, each file named after its
    # object.
    for name, data in busy.items():
        assert fakegcs.get(BUCKET, name) == data
    for name, data in batch.items():
        assert not stored(fakegcs, name)
        kept = [path for path, got in saved.items() if path.endswith("~" + name)]
        assert len(kept) == 1, (name, sorted(saved))
        assert saved[kept[0]] == data


# upload_on_close=wait: close uploads, as before background uploads existed.

def wait_mode_supported():
    from mounting import gcsmount_binary
    res = subprocess.run([gcsmount_binary(), "--help"], capture_output=True, timeout=30)
    return b"upload_on_close" in res.stdout + res.stderr


needs_wait_mode = pytest.mark.skipif(not wait_mode_supported(),
                                     reason="this gcsmount has no upload_on_close option")


@needs_wait_mode
def test_in_wait_mode_close_returns_once_the_object_is_in_the_bucket(fakegcs, mount):
    m = mount(args=["-o", "upload_on_close=wait"])
    fakegcs.shape(latency_ms=200)
    start = time.monotonic()
    write_file(m.p("waited.txt"), b"in the bucket when close returns")
    assert time.monotonic() - start >= 0.2
    assert fakegcs.get(BUCKET, "waited.txt") == b"in the bucket when close returns"
    fakegcs.shape()


@needs_wait_mode
def test_in_wait_mode_close_reports_a_conflict(fakegcs, mount, tmp_path):
    fakegcs.put(BUCKET, "contested.txt", b"original")
    staging = str(tmp_path / "staging-w")
    m = mount(args=["--staging-dir", staging, "-o", "upload_on_close=wait"])
    m.expect_log(r"contested\.txt: not uploaded: the object was changed by someone else")
    f = open(m.p("contested.txt"), "r+b")
    f.write(b"MINE")
    fakegcs.put(BUCKET, "contested.txt", b"someone else's version")
    with pytest.raises(OSError) as ei:
        f.close()
    assert ei.value.errno == errno.ESTALE
    assert list(recovered_contents(staging).values()) == [b"MINEinal"]


@needs_wait_mode
def test_upload_on_close_takes_only_wait_or_background(fakegcs, tmp_path):
    from mounting import gcsmount_binary
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = subprocess.run([gcsmount_binary(), "-f", "--endpoint", fakegcs.url, "--anonymous",
                          "-o", "upload_on_close=later", BUCKET, str(mnt)],
                         capture_output=True, timeout=30)
    assert res.returncode != 0
    assert b"upload_on_close is" in res.stderr and b"wait" in res.stderr


def test_truncating_a_file_whose_upload_is_queued_keeps_its_data(fakegcs, mount, tmp_path):
    staging = str(tmp_path / "staging-t")
    m = mount(args=["--staging-dir", staging, "-o", "max_retries=1"])
    m.expect_log(r"objects\.insert")
    m.expect_log(r"queued\.txt: upload failed")
    occupy_workers(fakegcs, m, 2)
    write_file(m.p("queued.txt"), b"abcdefgh")
    fakegcs.fault("objects.insert", count=1000, status=500)
    os.truncate(m.p("queued.txt"), 3)  # as a close would: queued, the data durable here
    wait_until(lambda: recovered_contents(staging), what="the recovered copy")
    fakegcs.clear_faults()
    assert list(recovered_contents(staging).values()) == [b"abc"]


def timed(fn):
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


def test_stat_ls_and_status_answer_at_once_while_uploads_run(fakegcs, mount):
    """An upload holds its file until the bucket answers; attributes must not wait for it."""
    # stat_ttl=0: the kernel keeps no attributes, so every stat asks the daemon.
    m = mount(args=["-o", "stat_ttl=0"])
    fakegcs.put(BUCKET, "busy-00", b"old")
    files = occupy_workers(fakegcs, m, 6)
    st, took = timed(lambda: os.stat(m.p("busy-03")))
    assert took < 1.0, "stat waited %.1f s for an upload" % took
    assert st.st_size == len(files["busy-03"])
    st, took = timed(lambda: os.stat(m.p("busy-00")))
    assert took < 1.0, "stat of a rewritten file waited %.1f s for its upload" % took
    assert st.st_size == len(files["busy-00"])
    res, took = timed(lambda: subprocess.run(["ls", "-l", m.path], capture_output=True,
                                             text=True, check=True, timeout=30))
    assert took < 1.0, "ls -l waited %.1f s for uploads" % took
    sizes = {f[-1]: f[4] for f in map(str.split, res.stdout.splitlines()) if len(f) >= 9}
    assert sizes == {name: str(len(data)) for name, data in files.items()}, res.stdout
    res, took = timed(lambda: subprocess.run([gcsmount_binary(), "--status", m.path], capture_output=True,
                                             text=True, timeout=30))
    assert took < 1.0, "--status waited %.1f s for uploads" % took
    assert "uploads pending: %d" % len(files) in res.stdout, res.stdout
    for name, data in files.items():
        wait_until(lambda: fakegcs.get(BUCKET, name) == data, what="the upload of " + name)


def test_rmdir_of_a_directory_whose_only_file_is_being_uploaded_fails_with_enotempty(
        fakegcs, mount):
    m = mount()
    os.mkdir(m.p("d"))
    # The upload is under way (and the object not yet stored) while rmdir looks.
    fakegcs.fault("objects.insert", count=1, stall=1.0, before_body=True)
    write_file(m.p("d", "f"), b"1")
    wait_until(lambda: not fakegcs.pending_faults(), what="the upload to start")
    with pytest.raises(OSError) as e:
        os.rmdir(m.p("d"))
    assert e.value.errno == errno.ENOTEMPTY
    settle(m)
    assert fakegcs.get(BUCKET, "d/f") == b"1"
    assert sorted(fakegcs.list(BUCKET, "d/")) == ["d/", "d/f"]
