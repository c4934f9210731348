"""The raw limit: how fast the shaped server can deliver the big object at all.

N curl processes each fetch one contiguous slice of the object with a ranged GET on the XML
endpoint, all at once. With a per-connection bandwidth cap, N streams is the ceiling a client
with N parallel ranged reads could reach; one stream is the ceiling of a client that reads one
range at a time. Nothing of FUSE is involved, so the gap between this and a mount's cold read
is the mount's own cost.
"""

import math
import subprocess
import time
from urllib.parse import quote

import procstat
from runner import Measurement


def curl_parallel(testbed, name, size, streams, timeout):
    """Fetch bytes [0, size) of name with `streams` concurrent ranged GETs."""
    m = Measurement(workload="seq-read-cold", tool="curl ×%d" % streams, unit="MB/s")
    url = "%s/%s/%s" % (testbed.url, quote(testbed.bucket, safe=""), quote(name, safe="/"))
    part = -(-size // streams)
    ranges = [(a, min(size, a + part) - 1) for a in range(0, size, part)]
    testbed.clear_log()
    server0 = testbed.server_cpu_seconds()
    start = time.monotonic()
    procs = [subprocess.Popen(["curl", "-s", "-f", "--max-time", str(max(1, math.ceil(timeout))),
                               "-o", "/dev/null", "-r", "%d-%d" % r, url],
                              stdin=subprocess.DEVNULL)
             for r in ranges]
    codes, cpu, rss = [], 0.0, 0.0
    for proc in procs:
        code, used, peak = procstat.rusage_of_wait(proc.pid)
        proc.returncode = code
        codes.append(code)
        cpu += used
        rss = max(rss, peak)
    seconds = time.monotonic() - start
    server1 = testbed.server_cpu_seconds()
    m.requests = testbed.request_summary()
    m.cpu_s, m.peak_rss_mib = cpu, rss
    if server0 is not None and server1 is not None:
        m.server_cpu_s = server1 - server0
    m.extra = {"streams": streams}
    if any(codes) or m.requests.get("bytes_out") != size:
        m.status = "failed"
        m.error = "curl exit codes %s; server sent %s of %d bytes" % (
            codes, m.requests.get("bytes_out"), size)
        return m
    m.status = "ok"
    m.seconds = seconds
    m.bytes = size
    m.ops, m.op_unit = size / (1 << 20), "MiB"
    m.value = size / seconds / 1e6
    m.requests_per_op = m.requests["total"] / m.ops
    return m
