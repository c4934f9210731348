"""The test server, the data the workloads use, and what the server saw.

The bundled GCS test server (tests/fakegcs) plays GCS. It is seeded once per run, unshaped and
through the harness's internal requests (which stay out of the request log), and then shaped
like GCS seen from a VM: a first-byte latency and a per-connection bandwidth cap. Both mount
clients and the raw curl limit then read the very same objects from it.

The large object is built by composing copies of one random piece, so seeding 1 GiB costs one
checksum pass over the piece instead of over the whole object (the server's CRC32C is pure
Python). Because the contents repeat with the piece's period, every byte a workload reads can
still be checked against what it should be.
"""

import base64
import collections
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.fakegcs.harness import FakeGCS  # noqa: E402

import procstat  # noqa: E402

BUCKET = "bench"
MIB = 1 << 20
PIECE_MAX = 64 * MIB
COMPOSE_LIMIT = 32

BIG_NAME = "seq/big.bin"
SMALL_PREFIX = "small/"
LIST_PREFIX = "many/"


@dataclass
class Sizes:
    """How much data each workload moves; --quick shrinks everything."""
    big_bytes: int = 1024 * MIB
    small_count: int = 1000
    small_bytes: int = 64 * 1024
    small_readers: int = 8
    list_count: int = 10000
    create_count: int = 1000
    rand4k_reads: int = 500
    rand1m_reads: int = 200
    rand_budget_s: float = 60.0

    @classmethod
    def quick(cls):
        return cls(big_bytes=64 * MIB, small_count=200, list_count=1000, create_count=200,
                   rand4k_reads=100, rand1m_reads=40, rand_budget_s=20.0)


class Dataset:
    """Names and contents of the seeded objects, so reads can be verified."""

    def __init__(self, sizes):
        self.sizes = sizes
        # At most COMPOSE_LIMIT sources: whole pieces plus one shorter tail.
        piece_len = max(min(PIECE_MAX, sizes.big_bytes),
                        -(-sizes.big_bytes // (COMPOSE_LIMIT - 1)))
        self.piece = os.urandom(piece_len)
        self.big_name = BIG_NAME
        self.big_size = sizes.big_bytes
        self.small_names = ["%sf%05d" % (SMALL_PREFIX, i) for i in range(sizes.small_count)]
        self.list_dir = LIST_PREFIX.rstrip("/")
        self.list_names = ["%se%05d" % (LIST_PREFIX, i) for i in range(sizes.list_count)]
        self._big_md5 = None

    def expected(self, offset, length):
        """Bytes [offset, offset+length) of the big object (the piece, repeated)."""
        length = max(0, min(length, self.big_size - offset))
        period = len(self.piece)
        out = bytearray()
        while len(out) < length:
            start = (offset + len(out)) % period
            out += self.piece[start:start + length - len(out)]
        return bytes(out)

    def big_md5_b64(self):
        """MD5 of the big object's contents, as GCS shows it (for checking written copies)."""
        if self._big_md5 is None:
            self._big_md5 = base64.b64encode(md5_of_repeated(self.piece, self.big_size)).decode()
        return self._big_md5

    def small_content(self, index):
        """Contents of small file index: a slice of the piece, different for each file."""
        size = self.sizes.small_bytes
        start = (index * 4099) % max(1, len(self.piece) - size)
        return self.piece[start:start + size]


class Testbed:
    """The running test server and the requests it logged."""

    def __init__(self, gcs):
        self.gcs = gcs
        self.url = gcs.url
        self.bucket = BUCKET
        self.shape = {"latency_ms": 0, "bandwidth_mbps": 0}

    @classmethod
    def start(cls):
        return cls(FakeGCS.start(buckets=[BUCKET]))

    def stop(self):
        self.gcs.stop()

    @property
    def pid(self):
        return self.gcs.process.pid

    def alive(self):
        return self.gcs.process.poll() is None

    def server_cpu_seconds(self):
        return procstat.cpu_seconds(self.pid)

    def set_shape(self, latency_ms, bandwidth_mbps):
        self.gcs.shape(latency_ms=latency_ms or None,
                       bandwidth_bps=bandwidth_mbps * 1e6 if bandwidth_mbps else None)
        self.shape = {"latency_ms": latency_ms, "bandwidth_mbps": bandwidth_mbps}

    # --- seeding ------------------------------------------------------------------

    def seed(self, dataset, what, progress=print):
        """Upload the objects the chosen workload groups read; returns seconds spent."""
        start = time.monotonic()
        if "big" in what:
            self._seed_big(dataset)
            progress("  %s: %d MiB" % (dataset.big_name, dataset.big_size // MIB))
        if "small" in what:
            for i, name in enumerate(dataset.small_names):
                self.gcs.put(self.bucket, name, dataset.small_content(i))
            progress("  %s: %d files of %d KiB" % (SMALL_PREFIX, len(dataset.small_names),
                                                   dataset.sizes.small_bytes // 1024))
        if "list" in what:
            for name in dataset.list_names:
                self.gcs.put(self.bucket, name, name.encode())
            progress("  %s: %d entries" % (LIST_PREFIX, len(dataset.list_names)))
        # The server renders an object's JSON once and keeps it; listing everything now keeps
        # that one-time cost away from whichever client happens to list first.
        for prefix, kind in ((SMALL_PREFIX, "small"), (LIST_PREFIX, "list")):
            if kind in what:
                self.gcs.list(self.bucket, prefix)
        return time.monotonic() - start

    def _seed_big(self, dataset):
        size, piece = dataset.big_size, dataset.piece
        if size <= len(piece):
            self.gcs.put(self.bucket, dataset.big_name, piece[:size])
            return
        whole, rest = divmod(size, len(piece))
        self.gcs.put(self.bucket, "seed/piece", piece)
        sources = [{"name": "seed/piece"}] * whole
        if rest:
            self.gcs.put(self.bucket, "seed/tail", piece[:rest])
            sources.append({"name": "seed/tail"})
        body = json.dumps({"sourceObjects": sources,
                           "destination": {"contentType": "application/octet-stream"}})
        path = "/storage/v1/b/%s/o/%s/compose" % (self.bucket, quote(dataset.big_name, safe=""))
        status, _, data = self.gcs.request("POST", path, body.encode(),
                                           {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError("composing the big object failed: HTTP %d %s" % (status, data[:300]))
        for name in ("seed/piece", "seed/tail"):
            self.gcs.delete(self.bucket, name)

    # --- state checks and cleanup (internal requests: not logged, not shaped) ---------

    def stat(self, name):
        return self.gcs.stat(self.bucket, name)

    def names(self, prefix):
        return self.gcs.list(self.bucket, prefix=prefix)

    def delete(self, name):
        return self.gcs.delete(self.bucket, name)

    def put(self, name, data):
        self.gcs.put(self.bucket, name, data)

    def delete_prefix(self, prefix):
        for name in self.names(prefix):
            self.gcs.delete(self.bucket, name)

    def wait_for_object(self, name, size, deadline):
        """Wait until the object exists with this size (asynchronous uploaders)."""
        while True:
            found = self.stat(name)
            if found is not None and int(found.get("size", -1)) == size:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError("%s did not reach the server with %d bytes (found %s)"
                                   % (name, size, found and found.get("size")))
            time.sleep(0.05)

    def wait_for_count(self, prefix, count, deadline, last=None):
        """Wait until count objects exist under prefix. last, the name written last, is
        watched alone first: listing the prefix again and again would take the server's CPU
        (one Python process) from the very uploads being waited for, and slow down most the
        client that returned from its writes first."""
        while last is not None and self.stat(last) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("%s did not reach the server" % last)
            time.sleep(0.02)
        while True:
            found = len([n for n in self.names(prefix) if not n.endswith("/")])
            if found >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError("only %d of %d objects under %s reached the server"
                                   % (found, count, prefix))
            time.sleep(0.1)

    # --- the request log ------------------------------------------------------------

    def clear_log(self):
        self.gcs.clear_log()

    def request_summary(self):
        """What the clients asked since clear_log(): counts by operation and bytes moved."""
        entries = self.gcs.log()
        by_op = collections.Counter(e["op"] for e in entries)
        # 404s are normal (lookups of names that do not exist yet); the rest are worth a look.
        unusual = collections.Counter("%s %s" % (e["op"], e["status"]) for e in entries
                                      if not e["status"] or e["status"] >= 400)
        return {"total": len(entries),
                "by_op": dict(by_op.most_common()),
                "non_2xx": dict(unusual),
                "bytes_out": sum(e.get("bytes_out") or 0 for e in entries),
                "bytes_in": sum(e.get("bytes_in") or 0 for e in entries)}


def md5_of_repeated(piece, size):
    """MD5 of the first size bytes of piece repeated: what a written copy must hash to."""
    digest = hashlib.md5()
    view = memoryview(piece)
    left = size
    while left > 0:
        step = min(left, len(piece))
        digest.update(view[:step])
        left -= step
    return digest.digest()
