"""Running measurements: a fresh mount per workload group, one timed call per measurement.

A measurement clears the server's request log, notes the daemon's CPU time, runs the timed
call in a worker thread, and afterwards reads CPU time, peak memory and the request log again.
The worker thread is there so that a client that hangs cannot hang the benchmark: after the
time limit the daemon is killed, its FUSE connection aborts, and the blocked call returns an
error. Whatever happens, the group's mount is taken down and what the workload left on the
server is removed before the next group starts.
"""

import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field

from clients import ClientError


@dataclass
class Work:
    """What a timed call did, in its own terms."""
    bytes: int = 0
    ops: float = 0             # operations, for requests per operation
    op_unit: str = "op"        # what one operation is: "MiB", "read", "file", "ls -l"
    items: int = None          # what the rate counts, when it is not ops (entries for ls -l)
    extra: dict = field(default_factory=dict)


@dataclass
class Measurement:
    workload: str
    tool: str
    unit: str
    status: str = "not run"    # ok | failed | timeout | crashed | not run
    error: str = ""
    seconds: float = None
    value: float = None        # in unit: MB/s (10^6 bytes) or things per second
    bytes: int = 0
    ops: float = 0
    op_unit: str = ""
    items: int = None
    requests: dict = field(default_factory=dict)
    requests_per_op: float = None
    cpu_s: float = None        # the daemon's user+system CPU seconds during the call
    peak_rss_mib: float = None
    server_cpu_s: float = None
    extra: dict = field(default_factory=dict)

    def to_json(self):
        return asdict(self)

    def apply(self, work, seconds):
        self.seconds = seconds
        self.bytes, self.ops, self.op_unit = work.bytes, work.ops, work.op_unit
        self.items = work.items
        self.extra.update(work.extra)
        if seconds and seconds > 0:
            if self.unit == "MB/s":
                self.value = work.bytes / seconds / 1e6
            else:
                self.value = (work.items if work.items is not None else work.ops) / seconds


def drop_page_cache():
    """Empty the kernel's page cache, so no client's earlier reads make a cold run warm."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
        return True
    except OSError:
        return False


class Session:
    """One mount of one client, handed to a workload group."""

    def __init__(self, client, testbed, dataset, units, timeout):
        self.client = client
        self.testbed = testbed
        self.data = dataset
        self.sizes = dataset.sizes
        self.units = units
        self.timeout = timeout
        self.deadline = None       # of the measurement in progress; loops check it
        self.results = []
        self.cleanups = []         # run after unmount: remove what the workload wrote

    @property
    def tool(self):
        return self.client.name

    def path(self, *parts):
        return self.client.path(*parts)

    def measure(self, name, call):
        """Time call() (which returns a Work) and collect what the client and server did."""
        m = Measurement(workload=name, tool=self.client.name, unit=self.units[name])
        self.results.append(m)
        if not self.client.alive():
            m.status, m.error = "crashed", self._crash_text()
            return m
        self.testbed.clear_log()
        cpu0 = self.client.cpu_seconds()
        server0 = self.testbed.server_cpu_seconds()
        box = {}

        def body():
            start = time.monotonic()
            try:
                box["work"] = call()
            except BaseException as exc:           # reported, never raised past the thread
                box["error"] = exc
                box["trace"] = traceback.format_exc(limit=3)
            box["seconds"] = time.monotonic() - start

        self.deadline = time.monotonic() + self.timeout
        worker = threading.Thread(target=body, name="workload-" + name, daemon=True)
        worker.start()
        worker.join(self.timeout + 2)
        timed_out = worker.is_alive()
        cpu1 = self.client.cpu_seconds()
        server1 = self.testbed.server_cpu_seconds()
        m.peak_rss_mib = self.client.peak_rss_mib()
        if cpu0 is not None and cpu1 is not None:
            m.cpu_s = cpu1 - cpu0
        if server0 is not None and server1 is not None:
            m.server_cpu_s = server1 - server0
        if timed_out:
            self.client.kill()
            worker.join(20)
            m.status = "timeout"
            m.error = "no result within %g s; %s was killed" % (self.timeout, self.client.name)
        elif "error" in box:
            if not self.client.alive():
                m.status, m.error = "crashed", self._crash_text()
            else:
                # A workload that notices the deadline itself stops with TimeoutError.
                m.status = "timeout" if isinstance(box["error"], TimeoutError) else "failed"
                m.error = "%s: %s" % (type(box["error"]).__name__, box["error"])
                m.extra["trace"] = box["trace"]
        else:
            m.status = "ok"
            m.apply(box["work"], box["seconds"])
        # The server logs a request after its latency wait, so a request whose effect a
        # workload already saw (an upload that landed) may still be missing from the log.
        time.sleep(self.testbed.shape["latency_ms"] / 1000.0 + 0.05)
        try:
            m.requests = self.testbed.request_summary()
        except Exception as exc:                   # the server itself may be the problem
            m.requests = {"total": None, "error": str(exc)}
        if m.status == "ok" and m.ops and m.requests.get("total") is not None:
            m.requests_per_op = m.requests["total"] / m.ops
        self.deadline = None
        return m

    def _crash_text(self):
        return "%s exited with %s:\n%s" % (self.client.name, self.client.exit_code(),
                                         self.client.log_tail())


def run_group(group, client, testbed, dataset, units, timeout):
    """Mount, run one workload group, unmount; returns one Measurement per name it owns."""
    session = Session(client, testbed, dataset, units, timeout)
    problem = None
    dropped = drop_page_cache()
    try:
        client.start()
        group.run(session)
    except ClientError as exc:
        problem = "could not mount: %s" % exc
    except Exception as exc:
        problem = "%s: %s" % (type(exc).__name__, exc)
        traceback.print_exc()
    finally:
        code = client.stop()
        for cleanup in session.cleanups:
            try:
                cleanup()
            except Exception as exc:
                print("bench: cleanup after %s/%s failed: %s" % (group.name, client.name, exc))
    done = {m.workload for m in session.results}
    for name in group.measures:
        if name not in done:
            session.results.append(Measurement(
                workload=name, tool=client.name, unit=units[name],
                status="failed" if problem else "not run",
                error=problem or "an earlier measurement on this mount did not complete"))
    for m in session.results:
        m.extra["page_cache_dropped"] = dropped
        if code not in (0, None):
            m.extra["exit_code"] = code
        if problem and m.status == "ok":
            m.extra["note"] = problem
    return session.results
