"""The http2 option, proved through nghttpx: an HTTP/2 proxy in front of the test server
whose access log records the protocol of every request it received.

nghttpx speaks HTTP/1.1 to the test server, so these tests also prove that every request
gcsmount sends (resumable sessions included) survives being relayed from HTTP/2.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tests.fakeauth import keys

BUCKET = "test-bucket"
# Debian installs nghttpx in /usr/sbin, which is not on every user's PATH.
NGHTTPX = shutil.which("nghttpx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
if NGHTTPX is None:
    pytest.skip("nghttpx is not installed (Debian package nghttp2-proxy)",
                allow_module_level=True)


class Proxy:
    def __init__(self, backend_host, backend_port, workdir, tls=None):
        """tls: (certificate, key) to serve https, where ALPN offers h2; else cleartext."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self.access_log = str(workdir / "nghttpx-access.log")
        self.error_log = str(workdir / "nghttpx-error.log")
        cmd = [NGHTTPX, "--conf=/dev/null", "--workers=1", "--no-ocsp",
               "--frontend=127.0.0.1,%d%s" % (self.port, "" if tls else ";no-tls"),
               "--backend=%s,%d" % (backend_host, backend_port),
               "--accesslog-file=" + self.access_log,
               # $alpn is the protocol the response went back in ("h2c" for cleartext
               # HTTP/2, also for the request that asked for the upgrade), $request ends in
               # the request's own protocol.
               "--accesslog-format=$alpn $status $request",
               "--errorlog-file=" + self.error_log]
        if tls:
            cmd += [tls[1], tls[0]]
        # A session of its own, so that stop() reaches nghttpx's worker process too.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("nghttpx exited with %d: %s"
                                   % (self.proc.returncode, self.errors()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("nghttpx did not listen within 15s: " + self.errors())
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            # SIGQUIT is nghttpx's graceful stop: the master waits for its worker, which
            # SIGTERM would leave behind as an orphan.
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the worker, if it outlived its master
        except ProcessLookupError:
            pass

    def errors(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def requests(self):
        """(alpn, status, method, path, protocol) of every request answered so far."""
        with open(self.access_log) as f:
            return [tuple(line.split()) for line in f if line.strip()]


@pytest.fixture
def proxy(fakegcs, tmp_path):
    p = Proxy(fakegcs.host, fakegcs.port, tmp_path)
    yield p
    p.stop()


def exercise(m):
    """Reads, lists, writes (multipart and resumable), renames; returns what was written."""
    assert os.listdir(m.path) == ["seed"]
    res = subprocess.run(["cat", m.p("seed", "hello.txt")], capture_output=True, timeout=30)
    assert res.returncode == 0 and res.stdout == b"from the bucket"
    big = random.Random(2).randbytes((3 << 20) + 4321)
    with open(m.p("big.bin"), "wb") as f:
        f.write(big)
    with open(m.p("small.txt"), "wb") as f:
        f.write(b"small and whole")
    with open(m.p("big.bin"), "rb") as f:
        assert f.read() == big
    os.rename(m.p("small.txt"), m.p("moved.txt"))
    assert sorted(os.listdir(m.path)) == ["big.bin", "moved.txt", "seed"]
    res = subprocess.run(["cat", m.p("moved.txt")], capture_output=True, timeout=30)
    assert res.stdout == b"small and whole"
    return big


def check_bucket(fakegcs, big):
    assert sorted(fakegcs.list(BUCKET)) == ["big.bin", "moved.txt", "seed/hello.txt"]
    assert fakegcs.get(BUCKET, "big.bin") == big
    assert fakegcs.get(BUCKET, "moved.txt") == b"small and whole"


@pytest.mark.parametrize("option", [["--http2"], ["-o", "http2"]])
def test_http2_option_sends_every_request_as_http2(fakegcs, proxy, mount, option):
    fakegcs.put(BUCKET, "seed/hello.txt", b"from the bucket")
    m = mount(endpoint=proxy.url, args=option + ["-o", "upload_chunk_mb=1"])
    big = exercise(m)
    m.stop()

    check_bucket(fakegcs, big)
    assert fakegcs.count("uploads.chunk") >= 3
    seen = proxy.requests()
    # Everything went through the proxy: a resumable session URL that pointed past it would
    # show here as a request the proxy never saw.
    assert len(seen) == len(fakegcs.log()), (seen, fakegcs.log())
    # Every answer came back over HTTP/2. A request that opened a connection with an h2c
    # upgrade (what libcurl 7.88 uses) is itself HTTP/1.1; all others are HTTP/2.
    assert all(r[0] == "h2c" for r in seen), seen
    assert all(r[-1] in ("HTTP/2", "HTTP/1.1") for r in seen), seen
    assert any(r[-1] == "HTTP/2" for r in seen), seen
    assert {r[2] for r in seen} >= {"GET", "POST", "PUT"}, seen


def test_http2_over_https_is_negotiated(fakegcs, mount, tmp_path):
    """The way GCS is reached: ALPN over TLS, so every request is HTTP/2 from the start."""
    cert, key = keys.tls_certificate(str(tmp_path))
    proxy = Proxy(fakegcs.host, fakegcs.port, tmp_path, tls=(cert, key))
    try:
        fakegcs.put(BUCKET, "seed/hello.txt", b"from the bucket")
        m = mount(endpoint=proxy.url,
                  args=["--http2", "--ca-file", cert, "-o", "upload_chunk_mb=1"])
        big = exercise(m)
        m.stop()
        seen = proxy.requests()
    finally:
        proxy.stop()

    check_bucket(fakegcs, big)
    assert len(seen) == len(fakegcs.log()), (seen, fakegcs.log())
    assert all(r[0] == "h2" and r[-1] == "HTTP/2" for r in seen), seen


def test_without_the_option_requests_stay_http1(fakegcs, proxy, mount):
    fakegcs.put(BUCKET, "seed/hello.txt", b"from the bucket")
    m = mount(endpoint=proxy.url, args=["-o", "upload_chunk_mb=1"])
    big = exercise(m)
    m.stop()

    check_bucket(fakegcs, big)
    seen = proxy.requests()
    assert len(seen) == len(fakegcs.log()), (seen, fakegcs.log())
    assert seen and all(r[0] == "http/1.1" and r[-1] == "HTTP/1.1" for r in seen), seen
