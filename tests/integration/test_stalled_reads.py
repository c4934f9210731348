"""Reads stalled on a server that stopped answering hold no thread that other operations
need: while 20 readers wait for their data, a listing of another directory and a stat of a
file not seen before answer within a second.

The readers map their files and read them as a database or a model loader does, with
MADV_RANDOM: each page fault is a read request of its own that the kernel sends at once,
synchronously. (Buffered reads are sent as background requests, of which the kernel keeps
only a few in flight.) The media reads stall, the server takes them and never answers, while
the control plane (lookups, listings) keeps answering. Short io_timeout and retry_deadline
options keep the stalls bounded: once the faults are cleared, each stalled transfer is cut
and its retry succeeds."""
import os
import subprocess
import sys
import time

BUCKET = "test-bucket"
READERS = 20
MB = 1 << 20
SIZE = 2 * MB
# A stalled transfer is cut after IO_TIMEOUT and retried; the operation gives up after
# DEADLINE. Both outlast the measurement, so the readers stay stalled while it runs.
IO_TIMEOUT = 4
DEADLINE = 12
ANSWER_WITHIN = 1.0

READER = """
import mmap, sys
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    m.madvise(mmap.MADV_RANDOM)
    sys.stdout.buffer.write(m[:])
"""


def content(i):
    return bytes([65 + i]) * SIZE


def name(i):
    return "data/f%02d" % i


def stalled_files(fakegcs, budget):
    """Files with a media read the server has taken and sits on."""
    left = {f["name_contains"]: f["count"] for f in fakegcs.pending_faults()}
    return [i for i in range(READERS) if left.get(name(i), 0) < budget]


def timed(fn, *args):
    start = time.monotonic()
    result = fn(*args)
    return result, time.monotonic() - start


def ls_l(path):
    names = sorted(os.listdir(path))
    return [(n, os.lstat(os.path.join(path, n)).st_size) for n in names]


def test_a_listing_and_a_stat_answer_while_readers_are_stalled(fakegcs, mount):
    for i in range(READERS):
        fakegcs.put(BUCKET, name(i), content(i))
    fakegcs.put(BUCKET, "other/a", b"a")
    fakegcs.put(BUCKET, "other/bb", b"bb")
    fakegcs.put(BUCKET, "third/deep/f", b"fff")
    # No prefetching of the next files in name order: only the readers' own reads stall.
    m = mount(args=["-o", "retry_deadline=%d,io_timeout=%d,prefetch_files=0"
                    % (DEADLINE, IO_TIMEOUT)])
    m.expect_log(r"retry \d+ of \d+")
    m.expect_log(r"transfer stalled")
    budget = 10_000
    for i in range(READERS):
        fakegcs.fault("xml.get", count=budget, stall=30, name_contains=name(i))

    readers = [subprocess.Popen([sys.executable, "-c", READER, m.p(name(i))],
                                stdout=subprocess.PIPE) for i in range(READERS)]
    try:
        # Every reader has met its stall.
        until = time.monotonic() + 5
        while len(stalled_files(fakegcs, budget)) < READERS and time.monotonic() < until:
            time.sleep(0.05)
        stalled = len(stalled_files(fakegcs, budget))
        assert all(r.poll() is None for r in readers), "a reader finished: nothing stalled"

        listing, took_ls = timed(ls_l, m.p("other"))
        st, took_stat = timed(os.stat, m.p("third", "deep", "f"))
        print("\n%d files with stalled reads; ls -l of another directory %.3f s; stat of "
              "a new file %.3f s" % (stalled, took_ls, took_stat))
        assert listing == [("a", 1), ("bb", 2)]
        assert st.st_size == 3
        assert took_ls < ANSWER_WITHIN, "ls -l took %.1f s" % took_ls
        assert took_stat < ANSWER_WITHIN, "stat took %.1f s" % took_stat
        # Nor are the reads themselves held back by a count of threads.
        assert stalled == READERS, "only %d readers reached the server" % stalled
    finally:
        # The server answers again: each stalled transfer is cut and retried in time.
        fakegcs.clear_faults()
        outs = [r.communicate(timeout=DEADLINE + 10)[0] for r in readers]
    for i, (r, out) in enumerate(zip(readers, outs)):
        assert r.returncode == 0 and out == content(i), "reader %d" % i


def test_a_mount_stopped_while_reads_are_stalled_exits_in_time(fakegcs, mount):
    """More stalled readers than there are read workers: some reads wait in the queue. A
    signal stops the daemon; reads under way end within their deadline, the queued ones are
    answered at once, and the daemon exits cleanly. The readers, their reads failed, die of
    SIGBUS (a mapped page that cannot be read)."""
    readers_n, deadline = 40, 3
    for i in range(readers_n):
        fakegcs.put(BUCKET, name(i), content(i)[:MB])
    m = mount(args=["-o", "retry_deadline=%d,io_timeout=%d,prefetch_files=0"
                    % (deadline, IO_TIMEOUT)])
    m.expect_log(r"error: xml.get data/f\d+ .*retry deadline reached")
    m.expect_log(r"warning: read workers|retry \d+ of \d+")
    fakegcs.fault("xml.get", count=10_000, stall=30)

    readers = [subprocess.Popen([sys.executable, "-c", READER, m.p(name(i))],
                                stdout=subprocess.DEVNULL) for i in range(readers_n)]
    try:
        until = time.monotonic() + 5
        while time.monotonic() < until and 10_000 - fakegcs.pending_faults()[0]["count"] < 20:
            time.sleep(0.05)
        time.sleep(0.5)
        start = time.monotonic()
        m.proc.terminate()
        m.proc.wait(timeout=deadline + 10)
        took = time.monotonic() - start
        print("\nthe daemon exited %.1f s after the signal, code %d" % (took, m.proc.returncode))
        assert m.proc.returncode >= 0, "the daemon died of signal %d" % -m.proc.returncode
        assert took < deadline + 2
        for r in readers:
            r.wait(timeout=10)
    finally:
        fakegcs.clear_faults()
        for r in readers:
            if r.poll() is None:
                r.kill()
                r.wait()
