"""Answers that are wrong rather than missing: damaged or short bodies, bodies that drip,
malformed documents, redirects, enormous pages, and page tokens that never end.

The rule throughout: a wrong answer is asked for again, and if it stays wrong the operation
fails with a clear errno and log line; wrong bytes never reach a reader, no thread is held
past the retry deadline, and credentials never leave for another host."""
import errno
import http.server
import os
import subprocess
import threading
import time

import pytest

from mounting import gcsmount_binary

BUCKET = "test-bucket"
DEADLINE = 3
MB = 1 << 20


@pytest.fixture(scope="module", autouse=True)
def needs_deadline_options():
    usage = subprocess.run([gcsmount_binary(), "--help"], capture_output=True, text=True)
    if "retry_deadline" not in usage.stdout + usage.stderr:
        pytest.skip("this gcsmount has no retry_deadline option to make the test fast")


def data_of(size, salt=7):
    return bytes((i * salt + (i >> 11)) & 0xFF for i in range(size))


def hostile_mount(mount, *expected, io_timeout=1, deadline=DEADLINE, options=""):
    m = mount(args=["-o", "retry_deadline=%d,io_timeout=%d%s" % (deadline, io_timeout, options)])
    m.expect_log(r"retry \d+ of \d+")
    for pattern in expected:
        m.expect_log(pattern)
    return m


def read_error(fn):
    try:
        fn()
    except OSError as exc:
        return exc.errno
    return None


# --- object data ----------------------------------------------------------------------


@pytest.mark.parametrize("fault", [{"corrupt": 1000}, {"truncate": 1000}],
                         ids=["corrupt", "truncate"])
def test_a_damaged_whole_object_is_fetched_again(fakegcs, mount, fault):
    data = data_of(300_000)
    fakegcs.put(BUCKET, "f", data)
    m = hostile_mount(mount)
    fakegcs.fault("xml.get", count=1, **fault)
    assert open(m.p("f"), "rb").read() == data
    assert fakegcs.pending_faults() == []
    assert "CRC32C" in m.log() or "bytes for" in m.log()


@pytest.mark.parametrize("fault", [{"corrupt": 1000}, {"truncate": 1000}],
                         ids=["corrupt", "truncate"])
def test_a_body_that_stays_damaged_gives_eio_never_wrong_bytes(fakegcs, mount, fault):
    fakegcs.put(BUCKET, "f", data_of(300_000))
    m = hostile_mount(mount, r"error: xml.get f ")
    fakegcs.fault("xml.get", count=1000, **fault)
    assert read_error(lambda: open(m.p("f"), "rb").read()) == errno.EIO


def test_a_short_ranged_body_is_refused(fakegcs, mount):
    """A range of a large object cannot be checked against the object's CRC32C, but its length
    can: a body shorter than its Content-Range, with framing that agrees, is not data."""
    data = data_of(4 * MB, salt=13)
    fakegcs.put(BUCKET, "big", data)
    m = hostile_mount(mount, r"error: xml.get big ")
    fakegcs.fault("xml.get", count=1000, truncate=5000)
    with open(m.p("big"), "rb") as f:
        assert read_error(lambda: os.pread(f.fileno(), 4096, 3 * MB)) == errno.EIO
    fakegcs.clear_faults()
    with open(m.p("big"), "rb") as f:
        assert os.pread(f.fileno(), 4096, 3 * MB) == data[3 * MB:3 * MB + 4096]


def test_a_dripping_body_is_cut_and_the_read_resumes(fakegcs, mount):
    data = data_of(300_000)
    fakegcs.put(BUCKET, "f", data)
    m = hostile_mount(mount)
    fakegcs.fault("xml.get", count=1, drip=1)
    start = time.monotonic()
    assert open(m.p("f"), "rb").read() == data
    assert time.monotonic() - start < DEADLINE
    assert "transfer stalled" in m.log()


def test_a_body_that_always_drips_fails_within_the_deadline(fakegcs, mount):
    """One byte a second keeps a connection alive for ever; the minimum rate ends it, and the
    deadline ends the operation."""
    fakegcs.put(BUCKET, "f", data_of(300_000))
    m = hostile_mount(mount, r"error: xml.get f ")
    fakegcs.fault("xml.get", count=1000, drip=1)
    start = time.monotonic()
    assert read_error(lambda: open(m.p("f"), "rb").read()) == errno.ETIMEDOUT
    # The kernel may ask once more after its read-ahead failed: two requests at most.
    assert time.monotonic() - start < 2 * DEADLINE + 1


# --- metadata and listings ------------------------------------------------------------


def test_one_malformed_listing_is_retried(fakegcs, mount):
    fakegcs.put(BUCKET, "d/a", b"a")
    m = hostile_mount(mount)
    fakegcs.fault("objects.list", count=1, name_contains="d/", body='{"items": [{"name": ')
    assert os.listdir(m.p("d")) == ["a"]
    assert fakegcs.pending_faults() == []


def test_a_listing_that_stays_malformed_gives_eproto(fakegcs, mount):
    fakegcs.put(BUCKET, "d/a", b"a")
    m = hostile_mount(mount, r"error: objects.list d/ ")
    fakegcs.fault("objects.list", count=1000, name_contains="d/", body="<html>oops</html>")
    assert read_error(lambda: os.listdir(m.p("d"))) == errno.EPROTO


@pytest.mark.parametrize("count,want", [(1, None), (1000, errno.EPROTO)],
                         ids=["once", "always"])
def test_object_metadata_without_its_generation(fakegcs, mount, count, want):
    """A 200 that lacks a required field is a damaged answer, like a 5xx."""
    fakegcs.put(BUCKET, "s/f", b"x")
    m = hostile_mount(mount, r"error: objects.get s/f ")
    fakegcs.fault("objects.get", count=count, name_contains="s/f",
                  break_item={"name": "s/f", "field": "generation"})

    def append():
        with open(m.p("s", "f"), "r+b") as f:
            f.seek(0, 2)
            f.write(b"y")
            f.flush()
            os.fsync(f.fileno())
    assert read_error(append) == want
    if want is None:
        assert fakegcs.get(BUCKET, "s/f") == b"xy"


@pytest.mark.parametrize("op,body", [
    ("objects.list", '{"error": {"code": 503, "message": '),
    ("objects.list", "\x00\xff garbage"),
    ("xml.get", "<?xml version='1.0'?><Error><Code>Internal"),
    ("xml.get", "x" * (1 << 20)),
], ids=["json-cut", "binary", "xml-cut", "huge"])
def test_malformed_error_bodies_are_still_errors(fakegcs, mount, op, body):
    fakegcs.put(BUCKET, "d/a", b"contents")
    m = hostile_mount(mount)
    fakegcs.fault(op, count=1, body=body, body_status=503)
    assert os.listdir(m.p("d")) == ["a"]
    assert open(m.p("d", "a"), "rb").read() == b"contents"
    assert fakegcs.pending_faults() == []


def test_an_enormous_listing_page_is_refused_with_a_clear_error(fakegcs, mount):
    fakegcs.put(BUCKET, "d/a", b"a")
    # The server takes its time to make such a page: give it more than the usual seconds.
    m = hostile_mount(mount, r"error: objects.list d/ .*larger than", io_timeout=20,
                      deadline=60)
    fakegcs.fault("objects.list", count=1000, name_contains="d/", inflate=70 * MB)
    assert read_error(lambda: os.listdir(m.p("d"))) == errno.EIO
    assert "the answer is larger than" in m.log()
    # Refused at once: the same request would get the same answer.
    assert sum(1 for e in fakegcs.log() if e["op"] == "objects.list"
               and e["query"].get("prefix") == "d/") == 1


@pytest.mark.parametrize("mode,words", [("repeat", "same page token"),
                                        ("restart", "went back")])
def test_a_listing_that_never_ends_fails_with_eio(fakegcs, mount, mode, words):
    for name in ("a", "b", "c"):
        fakegcs.put(BUCKET, "d/" + name, b"x")
    m = hostile_mount(mount, r"error: objects.list d/ .*endless listing")
    fakegcs.fault("objects.list", count=100_000, name_contains="d/", page_token=mode)
    start = time.monotonic()
    assert read_error(lambda: os.listdir(m.p("d"))) == errno.EIO
    assert time.monotonic() - start < DEADLINE
    assert words in m.log()
    pages = sum(1 for e in fakegcs.log() if e["op"] == "objects.list")
    assert pages < 40, "%d pages before the loop was seen" % pages


# --- redirects ------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        _Recorder.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"evil")

    def log_message(self, *args):
        pass


@pytest.fixture
def other_host():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen = []
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_redirect_is_not_followed(fakegcs, mount, other_host):
    fakegcs.put(BUCKET, "f", b"real")
    m = hostile_mount(mount, r"error: xml.get f .*redirect to http://127\.0\.0\.1:\d+/stolen, "
                             r"not followed")
    fakegcs.fault("xml.get", count=1000, redirect=other_host + "/stolen?x=1")
    assert read_error(lambda: open(m.p("f"), "rb").read()) == errno.EIO
    assert _Recorder.seen == [], "the client went to the other host"


def test_an_upload_session_on_another_host_is_refused(fakegcs, mount, other_host):
    """The session URI gets the credentials and the data: it must be on the endpoint."""
    m = hostile_mount(mount, r"error: objects.insert big.bin: the upload session is on another "
                             r"host", r"error: big.bin: upload failed", options=",upload_chunk_mb=1")
    fakegcs.fault("objects.insert", count=1000,
                  location=other_host + "/upload?upload_id=stolen")
    f = open(m.p("big.bin"), "wb")
    f.write(data_of(3 * MB))
    f.flush()
    assert read_error(lambda: os.fsync(f.fileno())) == errno.EIO
    read_error(f.close)  # which may try once more, and fail the same way
    assert _Recorder.seen == [], "the client went to the other host"
