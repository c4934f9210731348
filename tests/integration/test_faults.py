"""Every kind of request meets every kind of fault, once and for good.

Operations: a listing, a metadata read (objects.get, when a file is opened for writing), a data
read hit at the start and in the middle of its body, a single-request upload, chunk 2 of a
resumable upload (a large file edited in place), a patch (chmod), a delete and a rename. Faults: 503, 429, a reset connection,
a body cut short (which for a mutation means the server acted and its answer was lost), and a
stall. Once: the operation succeeds as if nothing happened. Every time: it fails within the
retry deadline with EIO (ETIMEDOUT for a stall, where the server stopped answering), no written
byte is lost (the recovery folder has it), and the mount still answers.

Short timeouts come from the mount options retry_deadline, io_timeout and max_retries."""
import errno
import os
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mounting import Mount, gcsmount_binary

BUCKET = "test-bucket"
# Room for a stall to be noticed (io_timeout to twice that) and the read resumed after it.
DEADLINE = 3
# Failing for good needs no such room.
LASTING_DEADLINE = 1.5
IO_TIMEOUT = 1
STALL = 4  # longer than io_timeout: the client must give up on it
MB = 1 << 20


def options(deadline):
    return ["-o", "retry_deadline=%s,io_timeout=%d,upload_chunk_mb=1" % (deadline, IO_TIMEOUT)]


@pytest.fixture(scope="module", autouse=True)
def needs_deadline_options():
    usage = subprocess.run([gcsmount_binary(), "--help"], capture_output=True, text=True)
    if "retry_deadline" not in usage.stdout + usage.stderr:
        pytest.skip("this gcsmount has no retry_deadline option to make the test fast")


def data_of(name, size):
    """Deterministic bytes, different per name."""
    seed = (name * (size // len(name) + 1)).encode()[:size]
    return bytes((b * 31 + i) & 0xFF for i, b in enumerate(seed))


class Op:
    """One operation: what it needs in the bucket, what it does through the mount, what the
    bucket holds after it succeeded, and the requests its faults hit."""

    def __init__(self, name, op, target, setup, run, check, skip=0, midway=False, writes=None,
                 bodiless=False):
        self.name, self.op, self.target = name, op, target
        self.setup, self.run, self.check = setup, run, check
        self.skip = skip          # requests of that kind let through first
        self.midway = midway      # strike in the middle of the body
        self.writes = writes      # data written through the mount, to find in recovery
        self.bodiless = bodiless  # the answer has no body to cut (204)

    def fault(self, kind, count):
        spec = {"count": count, "name_contains": self.target, "skip": self.skip}
        if kind in ("503", "429"):
            spec["status"] = int(kind)
        elif kind == "reset":
            spec["reset"] = True
        elif kind == "cut" and self.bodiless:
            # Nothing to cut: the answer is lost whole, after the server acted.
            spec.update(reset=True, after=True)
        elif kind == "cut":
            spec["cut_after"] = 100_000 if self.midway else (0 if self.op == "xml.get" else 10)
        elif kind == "lost":
            spec.update(reset=True, after=True)
        elif kind == "lost-503":
            spec.update(status=503, after=True)
        elif kind == "stall":
            spec["stall"] = STALL
        if self.midway and kind in ("reset", "stall"):
            spec["at_byte"] = 100_000
        return spec


def _put(path, data):
    def setup(gcs):
        gcs.put(BUCKET, path, data)
    return setup


def _read(path, data):
    def run(m):
        with open(m.p(*path.split("/")), "rb") as f:
            assert f.read() == data
    return run


# Written files are fsync'ed: fsync(2) uploads at once and reports the upload's outcome,
# whether close uploads or leaves it to the background.
def _sync(f):
    f.flush()
    os.fsync(f.fileno())


def _write(path, data, step=256 << 10):
    def run(m):
        with open(m.p(*path.split("/")), "wb") as f:
            for i in range(0, len(data), step):
                f.write(data[i:i + step])
            _sync(f)
    return run


def _append(m):
    with open(m.p("S", "f"), "r+b") as f:
        f.seek(0, 2)
        f.write(b"!")
        _sync(f)


def _edit(m):
    with open(m.p("C", "big"), "r+b") as f:
        f.seek(MB + 3)
        f.write(b"edited")
        _sync(f)


def _has(path, data):
    def check(gcs):
        assert gcs.get(BUCKET, path) == data
    return check


def _nothing(gcs):
    pass


def _mode_600(gcs):
    assert gcs.stat(BUCKET, "P/f")["metadata"]["goog-reserved-posix-mode"] == "600"


def _deleted(gcs):
    assert gcs.stat(BUCKET, "D/f") is None


def _moved(gcs):
    assert gcs.stat(BUCKET, "M/a") is None
    assert gcs.get(BUCKET, "M/b") == b"moved"


def _dir_moved(gcs):
    assert gcs.list(BUCKET, "N/d/") == []
    assert gcs.get(BUCKET, "N/e/a") == b"moved along"


READ = data_of("R/f", 300_000)
READ_MID = data_of("Q/f", 2 * MB)
UPLOAD = data_of("U/new", 100_000)
CHUNKED = data_of("C/big", 3 * MB + 5)
EDITED = CHUNKED[:MB + 3] + b"edited" + CHUNKED[MB + 9:]

OPS = {o.name: o for o in [
    Op("list", "objects.list", "L/", _put("L/f1", b"1"),
       lambda m: os.listdir(m.p("L")) and None,
       _nothing),
    Op("stat", "objects.get", "S/f", _put("S/f", b"stat me"), _append, _has("S/f", b"stat me!")),
    Op("read", "xml.get", "R/f", _put("R/f", READ), _read("R/f", READ), _nothing),
    Op("read-midway", "xml.get", "Q/f", _put("Q/f", READ_MID), _read("Q/f", READ_MID), _nothing,
       midway=True),
    # An upload names its object in the body, which faults cannot see: every insert is hit.
    Op("upload", "objects.insert", None, _put("U/old", b"o"), _write("U/new", UPLOAD),
       _has("U/new", UPLOAD), writes=UPLOAD),
    Op("upload-chunk-2", "uploads.chunk", "C/big", _put("C/big", CHUNKED), _edit,
       _has("C/big", EDITED), skip=1, writes=EDITED),
    Op("patch", "objects.patch", "P/f", _put("P/f", b"p"),
       lambda m: os.chmod(m.p("P", "f"), 0o600), _mode_600),
    Op("delete", "objects.delete", "D/f", _put("D/f", b"d"),
       lambda m: os.unlink(m.p("D", "f")), _deleted, bodiless=True),
    Op("rename", "objects.move", "M/a", _put("M/a", b"moved"),
       lambda m: os.rename(m.p("M", "a"), m.p("M", "b")), _moved),
    # A directory's objects move as its listing found them (no read of each first).
    Op("rename-dir", "objects.move", "N/d/a", _put("N/d/a", b"moved along"),
       lambda m: os.rename(m.p("N", "d"), m.p("N", "e")), _dir_moved),
]}
KINDS = ["503", "429", "reset", "cut", "stall"]
# A fault in the middle of a body is one that strikes after the status line was sent.
MIDWAY_KINDS = ["reset", "cut", "stall"]


def cases():
    for name, op in OPS.items():
        for kind in KINDS:
            if op.midway and kind not in MIDWAY_KINDS:
                continue
            yield pytest.param(name, kind, id="%s-%s" % (name, kind))


def fault_mount(mount, deadline=DEADLINE):
    m = mount(args=options(deadline))
    m.expect_log(r"retry \d+ of \d+")
    return m


@pytest.mark.parametrize("name,kind", list(cases()))
def test_one_fault_is_retried_and_the_operation_succeeds(fakegcs, mount, name, kind):
    op = OPS[name]
    op.setup(fakegcs)
    m = fault_mount(mount)
    fakegcs.fault(op.op, **op.fault(kind, 1))
    start = time.monotonic()
    op.run(m)
    took = time.monotonic() - start
    op.check(fakegcs)
    assert fakegcs.pending_faults() == [], "the fault never struck"
    assert took < DEADLINE + 1, "took %.1fs" % took


def recovered_files(m, staging):
    root = os.path.join(staging, BUCKET, "recovered")
    found = []
    for dirpath, _, files in os.walk(root):
        found += [os.path.join(dirpath, f) for f in files]
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_a_fault_that_lasts_fails_in_time_loses_nothing_and_leaves_the_mount_working(
        fakegcs, mount, tmp_path, kind):
    ops = [op for op in OPS.values() if kind in MIDWAY_KINDS or not op.midway]
    for op in ops:
        op.setup(fakegcs)
    m = fault_mount(mount, LASTING_DEADLINE)
    m.expect_log(r"error: ")
    m.expect_log(r"warning: ")
    for op in ops:
        fakegcs.fault(op.op, **op.fault(kind, 10_000))
    want = errno.ETIMEDOUT if kind == "stall" else errno.EIO

    def attempt(op):
        start = time.monotonic()
        try:
            op.run(m)
            outcome = None
        except OSError as exc:
            outcome = exc.errno
        return outcome, time.monotonic() - start

    with ThreadPoolExecutor(len(ops)) as pool:
        results = dict(zip([op.name for op in ops], pool.map(attempt, ops)))
    for op in ops:
        got, took = results[op.name]
        assert got == want, "%s: %s, not %s" % (op.name, got and errno.errorcode[got],
                                                errno.errorcode[want])
        # Each request the kernel sends is bounded by the deadline, but some calls send two:
        # the kernel reads a page again after its read-ahead of it failed, and the close
        # after a failed fsync tries the upload again.
        twice = op.op == "xml.get" or op.writes is not None
        limit = LASTING_DEADLINE * (2 if twice else 1) + 1.5
        assert took < limit, "%s took %.1fs" % (op.name, took)
    # Nothing written is lost: what could not be uploaded reaches the recovery folder, once
    # the release that follows close has failed too (with the fault still there).
    wanted = [op for op in ops if op.writes is not None]
    deadline = time.monotonic() + LASTING_DEADLINE + 5
    while True:
        saved = [open(p, "rb").read() for p in recovered_files(m, str(tmp_path / "staging0"))]
        missing = [op.name for op in wanted if op.writes not in saved]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not missing, "written data not in the recovery folder: %s" % missing
    fakegcs.clear_faults()
    # And the mount still answers: what failed works now.
    assert os.listdir(m.p("L")) == ["f1"]
    OPS["read"].run(m)
    _write("U/later", b"fine")(m)
    assert fakegcs.get(BUCKET, "U/later") == b"fine"


MUTATIONS = ["upload", "upload-chunk-2", "patch", "delete", "rename", "rename-dir"]


@pytest.mark.parametrize("kind", ["lost", "lost-503"])
@pytest.mark.parametrize("name", MUTATIONS)
def test_a_mutation_whose_answer_was_lost_succeeds(fakegcs, mount, name, kind):
    """The server acts, then the answer is lost (the connection drops, or a 503 comes
    instead): the retry meets the result (a 404, a 412), which is recognised as ours."""
    op = OPS[name]
    op.setup(fakegcs)
    m = fault_mount(mount)
    fakegcs.fault(op.op, **op.fault(kind, 1))
    op.run(m)
    op.check(fakegcs)
    assert fakegcs.pending_faults() == [], "the fault never struck"


def test_a_read_whose_every_answer_stalls_fails_within_the_deadline(fakegcs, mount):
    """Without a deadline such a read took minutes (each of 8 attempts waited out its stall).
    Now it fails with ETIMEDOUT, the server having stopped answering, once the deadline has
    passed; the kernel may send the read twice (its read-ahead, then the page)."""
    OPS["read"].setup(fakegcs)
    m = fault_mount(mount, LASTING_DEADLINE)
    m.expect_log(r"error: xml.get R/f .*retry deadline reached")
    fakegcs.fault("xml.get", count=1000, stall=30)
    start = time.monotonic()
    with pytest.raises(OSError) as exc:
        OPS["read"].run(m)
    assert exc.value.errno == errno.ETIMEDOUT
    assert time.monotonic() - start < 2 * LASTING_DEADLINE + 1


def test_an_upload_stalled_on_the_way_out_is_cut_and_resumed(fakegcs, mount):
    """The watchdog counts bytes going out as well as coming in: a chunk the server stops
    reading is cut, the session asked what it has, and the rest sent again."""
    op = OPS["upload-chunk-2"]
    op.setup(fakegcs)
    m = fault_mount(mount)
    fakegcs.fault("uploads.chunk", count=1, skip=1, stall=STALL, before_body=True)
    op.run(m)
    op.check(fakegcs)
    assert fakegcs.pending_faults() == []
    assert "transfer stalled" in m.log()


@pytest.fixture
def silent_tls_port():
    """A port that accepts connections and never says a word: TLS set-up never ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_connection_that_never_gets_set_up_fails_in_time(tmp_path, silent_tls_port):
    """The connect phase (TCP, then TLS) is bounded too: here by the rate watchdog, which
    counts nothing moving once TCP is up, and the deadline."""
    m = Mount("https://127.0.0.1:%d" % silent_tls_port, BUCKET, tmp_path / "mnt",
              tmp_path / "silent.log", args=["--staging-dir", str(tmp_path / "stage")]
              + options(LASTING_DEADLINE))
    start = time.monotonic()
    try:
        with pytest.raises(RuntimeError) as exc:
            m.start()
    finally:
        m.stop()
    assert time.monotonic() - start < LASTING_DEADLINE + 2
    assert "cannot reach" in str(exc.value), exc.value


def test_a_folder_rename_that_fails_midway_leaves_every_file_readable_where_it_is(
        fakegcs, mount):
    """The objects move several at a time; one that cannot move stays under the old name,
    the others are under the new one, and the mount shows both as the bucket has them. (The
    kernel remembers that the new name did not exist when mv looked, for negative_ttl: 0
    here.)"""
    for i in range(12):
        fakegcs.put(BUCKET, f"P/d/f{i:02d}", b"file %d" % i)
    m = mount(args=options(LASTING_DEADLINE) + ["-o", "negative_ttl=0"])
    m.expect_log(r"error: |warning: |retry \d+ of \d+")
    fakegcs.fault("objects.move", count=10_000, status=503, name_contains="P/d/f05")
    with pytest.raises(OSError) as exc:
        os.rename(m.p("P", "d"), m.p("P", "e"))
    assert exc.value.errno == errno.EIO
    fakegcs.clear_faults()
    moved = sorted(n for n in fakegcs.list(BUCKET, "P/e/"))
    assert moved == [f"P/e/f{i:02d}" for i in range(12) if i != 5]
    assert fakegcs.list(BUCKET, "P/d/") == ["P/d/f05"]
    assert os.listdir(m.p("P", "d")) == ["f05"]
    assert open(m.p("P", "d", "f05"), "rb").read() == b"file 5"
    for i in range(12):
        if i != 5:
            assert open(m.p("P", "e", f"f{i:02d}"), "rb").read() == b"file %d" % i
