"""Start and drive a fake GCS server from tests and benchmarks.

    gcs = FakeGCS.start(buckets=["test-bucket"])
    gcs.put("test-bucket", "dir/a.txt", b"hello", metadata={"k": "v"})
    gcs.fault("xml.get", count=2, status=503)
    ...
    gcs.stop()

The server runs as a subprocess (``python -m tests.fakegcs`` from the
repository root).  Helper calls go over one persistent HTTP connection and
carry a header that keeps them out of the request log and away from faults
and shaping, so seeding data never disturbs what a test measures.  Object
writes use the real JSON multipart upload.
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

REPO_ROOT = Path(__file__).resolve().parents[2]
INTERNAL_HEADER = "X-Fakegcs-Internal"


class FakeGCSError(RuntimeError):
    def __init__(self, status, body, what):
        super().__init__("%s: HTTP %d: %s" % (what, status, body[:500]))
        self.status = status
        self.body = body


class FakeGCS:
    def __init__(self, process, host, port, workdir):
        self.process = process
        self.host = host
        self.port = port
        self.url = "http://%s:%d" % (host, port)
        self.workdir = workdir
        self.stderr_path = os.path.join(workdir, "server.log")
        self._lock = threading.Lock()
        self._conn = None

    # --- lifecycle -------------------------------------------------------------

    @classmethod
    def start(cls, buckets=("test-bucket",), extra_args=(), host="127.0.0.1", timeout=15.0):
        workdir = tempfile.mkdtemp(prefix="fakegcs-")
        port_file = os.path.join(workdir, "port")
        cmd = [sys.executable, "-m", "tests.fakegcs", "--host", host, "--port", "0",
               "--port-file", port_file]
        for bucket in buckets:
            cmd += ["--bucket", bucket]
        cmd += list(extra_args)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        stderr = open(os.path.join(workdir, "server.log"), "wb")
        process = subprocess.Popen(cmd, cwd=str(REPO_ROOT), env=env,
                                   stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        stderr.close()
        deadline = time.monotonic() + timeout
        port = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                with open(port_file) as handle:
                    text = handle.read().strip()
                if text:
                    port = int(text)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        if port is None:
            process.kill()
            process.wait()
            with open(os.path.join(workdir, "server.log"), errors="replace") as handle:
                output = handle.read()
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError("fake GCS server did not start:\n" + output)
        return cls(process, host, port, workdir)

    def stop(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def server_output(self):
        """What the server wrote to stderr so far (tracebacks, if any)."""
        try:
            with open(self.stderr_path, errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    # --- raw requests ------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, internal=True):
        """One request on the shared connection: returns (status, headers, body bytes)."""
        hdrs = dict(headers or {})
        if internal:
            hdrs[INTERNAL_HEADER] = "1"
        with self._lock:
            for attempt in (0, 1):
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                try:
                    self._conn.request(method, path, body=body, headers=hdrs)
                    resp = self._conn.getresponse()
                    data = resp.read()
                    if resp.will_close:
                        self._conn.close()
                        self._conn = None
                    return resp.status, resp.headers, data
                except (http.client.HTTPException, ConnectionError, OSError):
                    self._conn.close()
                    self._conn = None
                    if attempt:
                        raise

    def _json(self, method, path, value=None, ok=(200,), what=None):
        body = json.dumps(value).encode() if value is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, _, data = self.request(method, path, body, headers)
        if status not in ok:
            raise FakeGCSError(status, data.decode(errors="replace"), what or path)
        return json.loads(data) if data else None

    # --- control interface -------------------------------------------------------

    def reset(self):
        self._json("POST", "/_fake/reset")

    def create_bucket(self, name):
        self._json("POST", "/_fake/buckets", {"name": name})

    def fault(self, op, count=1, **kwargs):
        """Inject a fault: status=503 | reset=True | stall=SECONDS | cut_after=BYTES |
        break_item={"name": N, "field": F, "value": V} | drip=BYTES_PER_S |
        corrupt=OFFSET | truncate=BYTES | body=TEXT (body_status=N) | redirect=URL |
        inflate=BYTES | page_token="repeat"|"restart" | location=URL (see control.py),
        optionally name_contains="part", after=True, skip=N, at_byte=N and
        before_body=True."""
        spec = {"op": op, "count": count}
        spec.update(kwargs)
        self._json("POST", "/_fake/faults", spec)

    def pending_faults(self):
        return self._json("GET", "/_fake/faults")

    def clear_faults(self):
        self._json("DELETE", "/_fake/faults", ok=(204,))

    def shape(self, latency_ms=None, bandwidth_bps=None):
        """First-byte latency and per-connection bandwidth; no arguments clears."""
        spec = {}
        if latency_ms:
            spec["latency_ms"] = latency_ms
        if bandwidth_bps:
            spec["bandwidth_bps"] = bandwidth_bps
        self._json("POST", "/_fake/shape", spec)

    def requester_pays(self, bucket, enabled=True):
        """Make requests on bucket name a billing project, until reset()."""
        self._json("POST", "/_fake/requester_pays", {"bucket": bucket, "enabled": enabled})

    def require_auth(self, required=True, public_buckets=()):
        """Check credentials like GCS (see auth.py) until reset()."""
        self._json("POST", "/_fake/auth", {"required": required,
                                           "public_buckets": list(public_buckets)})

    def add_token(self, token, identity, expires_in, scopes=None):
        spec = {"token": token, "identity": identity, "expires_in": expires_in}
        if scopes is not None:
            spec["scopes"] = list(scopes)
        self._json("POST", "/_fake/auth/tokens", spec)

    def revoke_token(self, token):
        return self._json("POST", "/_fake/auth/revoke", {"token": token})["ok"]

    def deny(self, identity, bucket, permissions=None):
        spec = {"identity": identity, "bucket": bucket}
        if permissions is not None:
            spec["permissions"] = list(permissions)
        self._json("POST", "/_fake/auth/deny", spec)

    def log(self):
        return self._json("GET", "/_fake/log")

    def clear_log(self):
        self._json("DELETE", "/_fake/log", ok=(204,))

    def count(self, op):
        return sum(1 for entry in self.log() if entry["op"] == op)

    # --- data helpers (real API calls) ---------------------------------------------

    @staticmethod
    def _object_path(bucket, name):
        return "/storage/v1/b/%s/o/%s" % (quote(bucket, safe=""), quote(name, safe=""))

    def put(self, bucket, name, data, metadata=None, content_type=None, resource=None):
        """Upload with uploadType=multipart; returns the object resource. resource adds other
        fields of the object resource (storageClass, cacheControl, ...)."""
        resource = dict(resource or {}, name=name)
        if metadata is not None:
            resource["metadata"] = metadata
        if content_type is not None:
            resource["contentType"] = content_type
        boundary = "fakegcs-" + uuid.uuid4().hex
        body = b"".join([
            b"--", boundary.encode(), b"\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n",
            json.dumps(resource).encode(), b"\r\n--", boundary.encode(), b"\r\n",
            b"Content-Type: ", (content_type or "application/octet-stream").encode(), b"\r\n\r\n",
            bytes(data), b"\r\n--", boundary.encode(), b"--\r\n"])
        path = "/upload/storage/v1/b/%s/o?uploadType=multipart" % quote(bucket, safe="")
        status, _, data_out = self.request(
            "POST", path, body, {"Content-Type": 'multipart/related; boundary="%s"' % boundary})
        if status != 200:
            raise FakeGCSError(status, data_out.decode(errors="replace"), "put %s/%s" % (bucket, name))
        return json.loads(data_out)

    def get(self, bucket, name):
        status, _, data = self.request("GET", self._object_path(bucket, name) + "?alt=media")
        if status != 200:
            raise FakeGCSError(status, data.decode(errors="replace"), "get %s/%s" % (bucket, name))
        return data

    def stat(self, bucket, name):
        status, _, data = self.request("GET", self._object_path(bucket, name))
        if status == 404:
            return None
        if status != 200:
            raise FakeGCSError(status, data.decode(errors="replace"), "stat %s/%s" % (bucket, name))
        return json.loads(data)

    def list(self, bucket, prefix=""):
        """All object names under prefix (every page)."""
        names, token = [], None
        while True:
            params = {"prefix": prefix, "maxResults": "1000",
                      "fields": "items(name),nextPageToken"}
            if token:
                params["pageToken"] = token
            page = self._json("GET", "/storage/v1/b/%s/o?%s" % (quote(bucket, safe=""),
                                                                 urlencode(params)))
            names += [item["name"] for item in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                return names

    def delete(self, bucket, name):
        """Delete an object; returns False if it did not exist."""
        status, _, data = self.request("DELETE", self._object_path(bucket, name))
        if status == 404:
            return False
        if status != 204:
            raise FakeGCSError(status, data.decode(errors="replace"), "delete %s/%s" % (bucket, name))
        return True
