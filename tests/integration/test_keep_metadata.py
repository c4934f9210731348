"""Rewriting an object's data through the mount keeps what the object had: its content type,
encoding, cache and disposition headers, language, custom time, storage class and custom
metadata. GCS resets every field an upload leaves out, so each rewrite path (a small upload,
a resumable upload, a streamed upload) must send them again. Every check reads the object's
resource from the test server itself."""
import gzip
import json
import os
import subprocess

from settle import settle

BUCKET = "test-bucket"

KEPT = {
    "contentType": "text/plain",
    "contentEncoding": "gzip",
    "cacheControl": "public, max-age=3600",
    "contentDisposition": 'attachment; filename="app.log.gz"',
    "contentLanguage": "en",
    "customTime": "2024-06-04T10:00:00.000Z",
    "storageClass": "NEARLINE",
}
CUSTOM = {"team": "data", "source": "other-tool", "x-note": "keep me"}


def seed(fakegcs, name, data):
    fields = {k: v for k, v in KEPT.items() if k != "contentType"}
    obj = fakegcs.put(BUCKET, name, data, metadata=CUSTOM, content_type=KEPT["contentType"],
                      resource=fields)
    assert {k: obj.get(k) for k in KEPT} == KEPT, obj
    return int(obj["generation"])


def check_kept(fakegcs, name, data, old_generation, mtime=True):
    """The object holds data, is a new generation, and kept every field; returns the
    generation. A streamed upload stores no mtime (its update time stands for it)."""
    assert fakegcs.get(BUCKET, name) == data
    obj = fakegcs.stat(BUCKET, name)
    assert int(obj["generation"]) != old_generation
    assert {k: obj.get(k) for k in KEPT} == KEPT
    metadata = obj.get("metadata", {})
    assert {k: metadata.get(k) for k in CUSTOM} == CUSTOM
    assert ("goog-reserved-file-mtime" in metadata) == mtime
    return int(obj["generation"])


def test_test_server_stores_given_fields_on_every_kind_of_upload(fakegcs):
    """GCS keeps what an upload's resource names, storage class included, and defaults what
    it leaves out; the mount tests below rely on the test server doing the same."""
    fields = dict(KEPT, metadata=CUSTOM)
    seed(fakegcs, "multipart", b"abc")
    # Resumable: metadata at the session start, data in the last request.
    status, headers, _ = fakegcs.request(
        "POST", "/upload/storage/v1/b/%s/o?uploadType=resumable&name=resumable" % BUCKET,
        body=json.dumps(fields).encode(),
        headers={"Content-Type": "application/json; charset=UTF-8"})
    assert status == 200
    session = headers["Location"].split("://", 1)[1].partition("/")[2]
    status, _, _ = fakegcs.request("PUT", "/" + session, body=b"xyz",
                                   headers={"Content-Range": "bytes 0-2/3"})
    assert status in (200, 201)
    obj = fakegcs.stat(BUCKET, "resumable")
    assert {k: obj.get(k) for k in KEPT} == KEPT
    assert obj["metadata"] == CUSTOM
    # An upload that names none of them gets the defaults again.
    plain = fakegcs.put(BUCKET, "multipart", b"new")
    assert plain["storageClass"] == "STANDARD"
    assert plain["contentType"] == "application/octet-stream"
    for key in ("contentEncoding", "cacheControl", "contentDisposition", "contentLanguage",
                "customTime", "metadata"):
        assert key not in plain


def test_append_truncate_and_overwrite_keep_the_objects_fields(fakegcs, mount):
    first, second = gzip.compress(b"first line\n"), gzip.compress(b"second line\n")
    gen = seed(fakegcs, "logs/app.log.gz", first)
    m = mount()
    path = m.p("logs", "app.log.gz")

    # Append from a shell: a second gzip member, so the object stays valid gzip.
    subprocess.run(["sh", "-c", 'cat >> "$0"', path], input=second, check=True, timeout=60)
    settle(m)
    gen = check_kept(fakegcs, "logs/app.log.gz", first + second, gen)
    assert gzip.decompress(fakegcs.get(BUCKET, "logs/app.log.gz")) == \
        b"first line\nsecond line\n"

    # Append from Python.
    with open(path, "ab") as f:
        f.write(first)
    settle(m)
    gen = check_kept(fakegcs, "logs/app.log.gz", first + second + first, gen)

    # Truncate to a length, and to nothing by opening with O_TRUNC.
    os.truncate(path, len(first))
    settle(m)
    gen = check_kept(fakegcs, "logs/app.log.gz", first, gen)
    with open(path, "wb") as f:
        f.write(second)
    settle(m)
    gen = check_kept(fakegcs, "logs/app.log.gz", second, gen)

    # Overwrite in place.
    with open(path, "r+b") as f:
        f.seek(2)
        f.write(b"XY")
    settle(m)
    check_kept(fakegcs, "logs/app.log.gz", second[:2] + b"XY" + second[4:], gen)
    assert open(path, "rb").read() == second[:2] + b"XY" + second[4:]


def test_large_rewrites_in_resumable_and_streamed_uploads_keep_the_fields(fakegcs, mount):
    mib = 1 << 20
    base = os.urandom(mib + 1000)
    gen = seed(fakegcs, "big.bin", base)
    m = mount(args=["-o", "upload_chunk_mb=1"])
    path = m.p("big.bin")

    # An append to an existing object goes up whole at close, in a resumable session.
    fakegcs.clear_log()
    extra = os.urandom(2 * mib)
    with open(path, "ab") as f:
        f.write(extra)
    settle(m)
    assert fakegcs.count("uploads.chunk") >= 2
    settle(m)
    gen = check_kept(fakegcs, "big.bin", base + extra, gen)

    # A truncated file written from the start streams its chunks while it is written.
    fakegcs.clear_log()
    fresh = os.urandom(3 * mib + 17)
    with open(path, "wb") as f:
        for off in range(0, len(fresh), 256 * 1024):
            f.write(fresh[off:off + 256 * 1024])
    settle(m)
    inserts = [e for e in fakegcs.log() if e["op"] == "objects.insert"]
    assert [e["query"].get("uploadType") for e in inserts] == ["resumable"]
    settle(m)
    check_kept(fakegcs, "big.bin", fresh, gen, mtime=False)
