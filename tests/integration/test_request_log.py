"""-d (and log_level=debug) logs one line per request: operation, method, object, HTTP
status or transport error, bytes both ways, time and attempt number. The lines are checked
against the test server's own request log, and must never hold a credential."""
import collections
import os
import re

from tests.fakeauth import keys
from tests.fakeauth.servers import TokenEndpoint

BUCKET = "test-bucket"
SA_EMAIL = "logger@test-project.iam.gserviceaccount.com"
SA_KID = "89abcdef0123456789abcdef0123456789abcdef"

LINE = re.compile(r" debug: request (?P<op>\S+) (?P<method>[A-Z]+) (?P<object>.+?): "
                  r"(?P<status>\d{3}|[^,]+), (?P<got>\d+) bytes in, (?P<sent>\d+) out, "
                  r"(?P<ms>\d+) ms, attempt (?P<attempt>\d+)$")


def request_lines(m):
    return [LINE.search(line) for line in m.log().splitlines() if " debug: request " in line]


def use_the_mount(m):
    assert sorted(os.listdir(m.p("dir"))) == ["a.txt", "b.txt"]
    with open(m.p("dir", "a.txt"), "rb") as f:
        assert f.read() == b"alpha\n"
    with open(m.p("dir", "new.txt"), "wb") as f:
        f.write(b"written through the mount\n")


def gcs_lines(m):
    lines = request_lines(m)
    assert all(lines), [l for l in m.log().splitlines() if " debug: request " in l]
    return [l for l in lines if not l["op"].startswith("auth.")]


def test_debug_logs_one_line_per_request_with_method_status_and_sizes(fakegcs, mount):
    fakegcs.put(BUCKET, "dir/a.txt", b"alpha\n")
    fakegcs.put(BUCKET, "dir/b.txt", b"beta\n")
    m = mount(args=["-d"])
    use_the_mount(m)
    m.stop()
    served = fakegcs.log()
    lines = gcs_lines(m)
    assert len(lines) == len(served) > 0
    assert collections.Counter((l["op"], l["method"], int(l["status"])) for l in lines) == \
        collections.Counter((e["op"], e["method"], e["status"]) for e in served)
    # Objects are named; bytes are counted both ways.
    reads = [l for l in lines if l["op"] == "xml.get"]
    assert [(l["object"], l["got"]) for l in reads] == [("dir/a.txt", "6")]
    inserts = [l for l in lines if l["op"] == "objects.insert"]
    assert [l["object"] for l in inserts] == ["dir/new.txt"]
    assert int(inserts[0]["sent"]) > len(b"written through the mount\n")
    assert all(l["attempt"] == "1" for l in lines)
    assert fakegcs.get(BUCKET, "dir/new.txt") == b"written through the mount\n"


def test_log_level_debug_logs_retries_and_transport_errors_as_attempts(fakegcs, mount):
    fakegcs.put(BUCKET, "f.txt", b"data")
    m = mount(args=["-o", "log_level=debug"])
    m.expect_log(r"xml\.get f\.txt GET: .*; retry \d of 7")
    fakegcs.fault("xml.get", count=1, status=503)
    fakegcs.fault("xml.get", count=1, cut_after=0)
    with open(m.p("f.txt"), "rb") as f:
        assert f.read() == b"data"
    reads = [l for l in gcs_lines(m) if l["op"] == "xml.get"]
    assert [l["attempt"] for l in reads] == ["1", "2", "3"]
    assert [l["object"] for l in reads] == ["f.txt"] * 3
    assert reads[0]["status"] == "503" and reads[2]["status"] == "206"
    # The second answer broke off: the line says what the transport saw.
    assert not re.fullmatch(r"\d{3}", reads[1]["status"]), reads[1].group(0)
    assert len(gcs_lines(m)) == len(fakegcs.log())


def test_debug_log_has_token_requests_and_never_the_token(fakegcs, mount, tmp_path):
    d = tmp_path / "keys"
    d.mkdir()
    private_pem, public_pem = keys.rsa_key(d, "sa")
    fakegcs.require_auth()
    fakegcs.put(BUCKET, "dir/a.txt", b"alpha\n")
    fakegcs.put(BUCKET, "dir/b.txt", b"beta\n")
    endpoint = TokenEndpoint(fakegcs).start()
    try:
        endpoint.add_service_account(SA_EMAIL, SA_KID, public_pem)
        key = keys.write(tmp_path / "creds" / "sa.json",
                         keys.service_account(SA_EMAIL, private_pem, SA_KID, endpoint.url))
        home = tmp_path / "home"
        home.mkdir()
        env = {"HOME": str(home), "CLOUDSDK_CONFIG": None, "GOOGLE_APPLICATION_CREDENTIALS": None,
               "GCE_METADATA_HOST": None, "NO_GCE_CHECK": "true"}
        m = mount(args=["-d", "--key-file", key], env=env, anonymous=False)
        use_the_mount(m)
        m.stop()
    finally:
        endpoint.stop()
    assert endpoint.issued
    lines = request_lines(m)
    assert len(gcs_lines(m)) == len(fakegcs.log())
    token_lines = [l for l in lines if l["op"] == "auth.token"]
    assert len(token_lines) == len(endpoint.grants)
    assert all(l["method"] == "POST" and l["status"] == "200" and
               l["object"] == endpoint.url for l in token_lines)
    text = m.log() + m.stderr()
    secrets = endpoint.issued + endpoint.assertions
    secrets += [a.rsplit(".", 1)[-1] for a in endpoint.assertions]
    assert [s for s in secrets if s in text] == []
    assert "Authorization" not in text and "Bearer" not in text
