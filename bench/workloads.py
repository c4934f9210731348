"""The workloads: what an application does to the mount, timed and checked.

Each group runs on a fresh mount of one client (after the page cache was dropped) and produces
one or more measurements. Everything is done with plain system calls from Python, as an
application would: reads of 1 MiB for streaming, pread() at random offsets, whole small files
opened by name, `ls -l`, writes of 1 MiB, and open/write/close for small files. Every byte read
is checked (sampled for the sequential streams, so the check does not cap warm reads), and
written data must reach the server before the clock stops: a client that returns from close()
before uploading is timed until its upload lands, so both clients are timed to the same point.
"""

import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass

from runner import Work
from testbed import MIB

CHUNK = MIB
SEQ_CHECK_EVERY = 61          # check one read in this many during sequential streams


class DataMismatch(RuntimeError):
    pass


@dataclass
class Group:
    name: str                 # what --only names
    measures: tuple           # measurement names, in report order
    run: object               # run(session)
    seeds: frozenset          # which seeded data it reads: big, small, list


# --- shared steps --------------------------------------------------------------------------

def _read_sequential(path, data):
    """Read the whole big file in 1 MiB reads, checking a sample of them."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = index = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            n = handle.readinto(buf)
            if not n:
                break
            if index % SEQ_CHECK_EVERY == 0 and view[:n] != data.expected(total, n):
                raise DataMismatch("wrong data in the %d bytes at offset %d" % (n, total))
            total += n
            index += 1
    if total != data.big_size:
        raise DataMismatch("read %d bytes of a %d-byte file" % (total, data.big_size))
    return Work(bytes=total, ops=total / MIB, op_unit="MiB")


def _random_reads(session, size, count, seed):
    """count reads of size bytes at random 4 KiB-aligned offsets, one at a time.

    The offsets are the same for every client. A time budget stops slow clients early; the
    rate is then taken over the reads that were done."""
    data = session.data
    rng = random.Random(seed)
    slots = (data.big_size - size) // 4096 + 1
    offsets = [rng.randrange(slots) * 4096 for _ in range(count)]
    budget_end = time.monotonic() + session.sizes.rand_budget_s
    done = total = 0
    fd = os.open(session.path(data.big_name), os.O_RDONLY)
    try:
        for offset in offsets:
            if time.monotonic() > budget_end:
                break
            got = os.pread(fd, size, offset)
            if got != data.expected(offset, size):
                raise DataMismatch("wrong data in the read of %d bytes at %d" % (size, offset))
            done += 1
            total += len(got)
    finally:
        os.close(fd)
    return Work(bytes=total, ops=done, op_unit="read",
                extra={"planned_reads": count, "stopped_by_budget": done < count})


def _wait_written(session, name, size):
    """Until the object is on the server (returns at once for clients that upload in close)."""
    session.testbed.wait_for_object(name, size, session.deadline)


# --- groups ------------------------------------------------------------------------------------

def seq_read(session):
    path = session.path(session.data.big_name)
    cold = session.measure("seq-read-cold", lambda: _read_sequential(path, session.data))
    if cold.status == "ok":
        session.measure("seq-read-warm", lambda: _read_sequential(path, session.data))


def rand_4k(session):
    session.measure("rand-4k", lambda: _random_reads(
        session, 4096, session.sizes.rand4k_reads, seed=4096))


def rand_1m(session):
    session.measure("rand-1m", lambda: _random_reads(
        session, MIB, session.sizes.rand1m_reads, seed=MIB))


def small_files(session):
    """Read every small file whole, with several readers taking the next file by turns."""
    data = session.data
    names = data.small_names
    readers = session.sizes.small_readers

    def call():
        lock = threading.Lock()
        state = {"next": 0, "bytes": 0, "errors": []}

        def reader():
            while True:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= len(names) or state["errors"] or time.monotonic() > session.deadline:
                    return
                try:
                    with open(session.path(names[i]), "rb", buffering=0) as handle:
                        got = handle.read()
                    if got != data.small_content(i):
                        raise DataMismatch("wrong contents in %s" % names[i])
                except Exception as exc:
                    with lock:
                        state["errors"].append("%s: %s" % (names[i], exc))
                    return
                with lock:
                    state["bytes"] += len(got)

        threads = [threading.Thread(target=reader, daemon=True) for _ in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if state["errors"]:
            raise RuntimeError("; ".join(state["errors"][:3]))
        if state["next"] < len(names):
            raise TimeoutError("stopped at the time limit")
        return Work(bytes=state["bytes"], ops=len(names), op_unit="file",
                    extra={"readers": readers})

    session.measure("small-files", call)


def ls_l(session):
    data = session.data
    path = session.path(data.list_dir)

    def call():
        left = max(1.0, session.deadline - time.monotonic())
        res = subprocess.run(["ls", "-l", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=left)
        if res.returncode != 0:
            raise RuntimeError("ls -l exited with %d: %s" % (
                res.returncode, res.stderr.decode(errors="replace")[:300]))
        entries = [l for l in res.stdout.splitlines() if l and not l.startswith(b"total ")]
        if len(entries) != len(data.list_names):
            raise DataMismatch("ls -l showed %d of %d entries" % (len(entries),
                                                                  len(data.list_names)))
        return Work(ops=1, op_unit="ls -l", items=len(entries))

    session.measure("ls-l", call)


def write_big(session):
    """Write a file as large as the big one in 1 MiB writes, then close it."""
    data = session.data
    name = "written/%s-big.bin" % session.tool
    size = data.big_size
    os.makedirs(session.path("written"), exist_ok=True)
    piece = memoryview(data.piece)

    def call():
        start = time.monotonic()
        fd = os.open(session.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            written = 0
            while written < size:
                at = written % len(piece)
                n = os.write(fd, piece[at:at + min(CHUNK, size - written, len(piece) - at)])
                written += n
        finally:
            closing = time.monotonic()
            os.close(fd)
        returned = time.monotonic()
        _wait_written(session, name, size)
        return Work(bytes=size, ops=size / MIB, op_unit="MiB",
                    extra={"close_s": returned - closing, "returned_after_s": returned - start})

    m = session.measure("write-big", call)
    session.cleanups.append(lambda: session.testbed.delete_prefix("written/"))
    if m.status == "ok":
        stored = session.testbed.stat(name) or {}
        if stored.get("md5Hash"):
            if stored["md5Hash"] != data.big_md5_b64():
                m.status, m.error = "failed", "the stored object's MD5 differs from what was written"


def create_small(session):
    """Create small files one after another (as an unpacking tool would) in a new folder."""
    data = session.data
    count = session.sizes.create_count
    prefix = "created-%s/" % session.tool
    os.mkdir(session.path(prefix.rstrip("/")))

    def call():
        start = time.monotonic()
        for i in range(count):
            if time.monotonic() > session.deadline:
                raise TimeoutError("stopped at the time limit after %d files" % i)
            fd = os.open(session.path(prefix + "f%05d" % i),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                content = memoryview(data.small_content(i))
                while content:
                    content = content[os.write(fd, content):]
            finally:
                os.close(fd)
        returned = time.monotonic()
        session.testbed.wait_for_count(prefix, count, session.deadline,
                                       last=prefix + "f%05d" % (count - 1))
        return Work(bytes=count * data.sizes.small_bytes, ops=count, op_unit="file",
                    extra={"returned_after_s": returned - start})

    session.measure("create-small", call)
    session.cleanups.append(lambda: session.testbed.delete_prefix(prefix))


def rename_dir(session):
    """Rename a folder of small files with mv, as a user tidying a dataset would."""
    data = session.data
    count = session.sizes.create_count
    src, dst = "rename-%s/" % session.tool, "renamed-%s/" % session.tool
    for i in range(count):
        session.testbed.put(src + "f%05d" % i, data.small_content(i))

    def call():
        start = time.monotonic()
        left = max(1.0, session.deadline - start)
        res = subprocess.run(["mv", session.path(src.rstrip("/")), session.path(dst.rstrip("/"))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=left)
        if res.returncode != 0:
            raise RuntimeError("mv exited with %d: %s" % (
                res.returncode, res.stderr.decode(errors="replace")[:300]))
        returned = time.monotonic()
        # Done when the bucket holds every file under the new name and none under the old.
        session.testbed.wait_for_count(dst, count, session.deadline)
        while [n for n in session.testbed.names(src) if not n.endswith("/")]:
            if time.monotonic() > session.deadline:
                raise TimeoutError("objects are still under " + src)
            time.sleep(0.1)
        return Work(bytes=count * data.sizes.small_bytes, ops=count, op_unit="file",
                    extra={"returned_after_s": returned - start})

    session.measure("rename-dir", call)
    session.cleanups.append(lambda: session.testbed.delete_prefix(src))
    session.cleanups.append(lambda: session.testbed.delete_prefix(dst))


GROUPS = [
    Group("seq-read", ("seq-read-cold", "seq-read-warm"), seq_read, frozenset({"big"})),
    Group("rand-4k", ("rand-4k",), rand_4k, frozenset({"big"})),
    Group("rand-1m", ("rand-1m",), rand_1m, frozenset({"big"})),
    Group("small-files", ("small-files",), small_files, frozenset({"small"})),
    Group("ls-l", ("ls-l",), ls_l, frozenset({"list"})),
    Group("write-big", ("write-big",), write_big, frozenset({"big"})),
    Group("create-small", ("create-small",), create_small, frozenset()),
    Group("rename-dir", ("rename-dir",), rename_dir, frozenset()),
]

UNITS = {"seq-read-cold": "MB/s", "seq-read-warm": "MB/s", "rand-4k": "reads/s",
         "rand-1m": "MB/s", "small-files": "files/s", "ls-l": "entries/s",
         "write-big": "MB/s", "create-small": "files/s", "rename-dir": "files/s"}


def titles(sizes):
    """Human names of the measurements for these sizes."""
    big = _size_text(sizes.big_bytes)
    return {
        "seq-read-cold": "Sequential read, %s, cold" % big,
        "seq-read-warm": "Sequential re-read, %s, warm" % big,
        "rand-4k": "Random 4 KiB reads (%d)" % sizes.rand4k_reads,
        "rand-1m": "Random 1 MiB reads (%d)" % sizes.rand1m_reads,
        "small-files": "Read %s files of %d KiB, %d readers" % (
            format(sizes.small_count, ","), sizes.small_bytes // 1024, sizes.small_readers),
        "ls-l": "ls -l of %s entries" % format(sizes.list_count, ","),
        "write-big": "Write a %s file" % big,
        "create-small": "Create %s files of %d KiB" % (format(sizes.create_count, ","),
                                                       sizes.small_bytes // 1024),
        "rename-dir": "Rename a folder of %s files of %d KiB" % (
            format(sizes.create_count, ","), sizes.small_bytes // 1024),
    }


def _size_text(n):
    return "%d GiB" % (n >> 30) if n % (1 << 30) == 0 else "%d MiB" % (n >> 20)


def select(only):
    """The groups named by --only (group or measurement names); all when only is empty."""
    if not only:
        return list(GROUPS)
    wanted, unknown = set(), []
    for name in only:
        group = next((g for g in GROUPS if name == g.name or name in g.measures), None)
        if group is None:
            unknown.append(name)
        else:
            wanted.add(group.name)
    if unknown:
        raise ValueError("unknown workload %s; known: %s" % (
            ", ".join(unknown), ", ".join(g.name for g in GROUPS)))
    return [g for g in GROUPS if g.name in wanted]
