"""Protocol checks of the fake GCS server (tests/fakegcs), with raw HTTP.

Every test and benchmark trusts this server to answer like GCS, so its
behaviour is pinned down here: generations and metagenerations,
preconditions (412 / 304), listing and paging, partial responses, ranged
reads on both APIs, resumable uploads, compose / rewrite / copy / move, error
shapes, and the test controls (faults, shaping, request log).
"""

import base64
import hashlib
import http.client
import json
import re
import socket
import time
from urllib.parse import quote, urlsplit

import pytest

from tests.fakegcs import crc32c

BUCKET = "test-bucket"
KIB256 = 256 * 1024


# --- helpers -----------------------------------------------------------------------

def call(gcs, method, path, body=None, headers=None):
    """One request on a fresh connection: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection(gcs.host, gcs.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def jcall(gcs, method, path, value=None, headers=None, raw=None):
    hdrs = dict(headers or {})
    body = raw
    if value is not None:
        body = json.dumps(value).encode()
        hdrs.setdefault("Content-Type", "application/json")
    status, resp_headers, data = call(gcs, method, path, body, hdrs)
    return status, resp_headers, (json.loads(data) if data else None)


def opath(name, bucket=BUCKET):
    return "/storage/v1/b/%s/o/%s" % (bucket, quote(name, safe=""))


def xpath(name, bucket=BUCKET):
    return "/%s/%s" % (bucket, quote(name, safe="/"))


def upload(gcs, name, data, query=""):
    path = "/upload/storage/v1/b/%s/o?uploadType=media&name=%s%s" % (
        BUCKET, quote(name, safe=""), query)
    return jcall(gcs, "POST", path, raw=data,
                 headers={"Content-Type": "application/octet-stream"})


def multipart_body(resource, data, media_type="application/octet-stream", boundary="b0undary"):
    parts = [b"--" + boundary.encode(), b"\r\nContent-Type: application/json\r\n\r\n",
             json.dumps(resource).encode(), b"\r\n--" + boundary.encode() + b"\r\n"]
    if media_type:
        parts.append(b"Content-Type: " + media_type.encode() + b"\r\n")
    parts += [b"\r\n", data, b"\r\n--" + boundary.encode() + b"--"]
    return b"".join(parts), "multipart/related; boundary=" + boundary


def start_session(gcs, name, query="", resource=None):
    path = "/upload/storage/v1/b/%s/o?uploadType=resumable&name=%s%s" % (
        BUCKET, quote(name, safe=""), query)
    status, headers, _ = jcall(gcs, "POST", path, value=resource or {})
    assert status == 200
    location = headers["Location"]
    assert location.startswith(gcs.url + "/upload/storage/v1/b/")
    assert "upload_id=" in location
    parts = urlsplit(location)
    return parts.path + "?" + parts.query


def put_chunk(gcs, session, data, content_range, headers=None):
    hdrs = {"Content-Range": content_range}
    hdrs.update(headers or {})
    return call(gcs, "PUT", session, data, hdrs)


def b64md5(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def gen(resource):
    return int(resource["generation"])


def error_reason(body):
    return json.loads(body)["error"]["errors"][0]["reason"]


# --- checksums ---------------------------------------------------------------------

def test_crc32c_matches_published_vectors_and_gcs_encoding():
    assert crc32c.crc32c(b"123456789") == 0xE3069283
    assert crc32c.crc32c(bytes(32)) == 0x8A9136AA            # RFC 3720 B.4
    assert crc32c.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c.to_base64(crc32c.crc32c(b"hello")) == "mnG7TA=="


def test_crc32c_bulk_path_agrees_with_bytewise_definition():
    data = bytes((i * 131 + (i >> 7)) & 0xFF for i in range(300_001))
    state = 0xFFFFFFFF
    table = crc32c._TABLE
    for byte in data:
        state = (state >> 8) ^ table[(state ^ byte) & 0xFF]
    expected = state ^ 0xFFFFFFFF
    assert crc32c._crc32c_python(data) == expected
    assert crc32c.crc32c(data) == expected
    head = crc32c.crc32c(data[:123_457])
    assert crc32c.crc32c(data[123_457:], head) == expected
    assert crc32c.combine(head, crc32c.crc32c(data[123_457:]), len(data) - 123_457) == expected


# --- generations, metadata, preconditions -----------------------------------------------

def test_every_write_gets_a_new_strictly_increasing_generation(fakegcs):
    generations = []
    for i in range(5):
        res = fakegcs.put(BUCKET, "same", b"v%d" % i)
        generations.append(gen(res))
        assert res["metageneration"] == "1"
    other = gen(fakegcs.put(BUCKET, "other", b"x"))
    assert generations == sorted(set(generations))
    assert other > generations[-1]


def test_object_resource_has_the_gcs_shape(fakegcs):
    data = b"hello"
    res = fakegcs.put(BUCKET, "dir/a b.txt", data, metadata={"k": "v"}, content_type="text/plain")
    assert res["kind"] == "storage#object"
    assert res["id"] == "%s/dir/a b.txt/%s" % (BUCKET, res["generation"])
    assert res["name"] == "dir/a b.txt" and res["bucket"] == BUCKET
    for key in ("generation", "metageneration", "size"):
        assert isinstance(res[key], str)
    assert res["size"] == "5"
    assert res["md5Hash"] == b64md5(data)
    assert res["crc32c"] == "mnG7TA=="
    assert res["contentType"] == "text/plain"
    assert res["storageClass"] == "STANDARD"
    assert res["metadata"] == {"k": "v"}
    assert "componentCount" not in res
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    assert stamp.match(res["timeCreated"]) and stamp.match(res["updated"])
    assert res["selfLink"] == fakegcs.url + "/storage/v1/b/%s/o/dir%%2Fa%%20b.txt" % BUCKET
    assert res["mediaLink"].startswith(fakegcs.url + "/download/storage/v1/b/")
    status, _, body = call(fakegcs, "GET", res["mediaLink"][len(fakegcs.url):])
    assert (status, body) == (200, data)
    etag = base64.b64decode(res["etag"])
    assert etag[0] == 0x08 and etag.endswith(b"\x10\x01")


def test_patch_bumps_metageneration_and_keeps_generation(fakegcs):
    res = fakegcs.put(BUCKET, "p", b"data", metadata={"a": "1", "b": "2"})
    body = dict(res)                 # clients send read-only fields back
    body["metadata"] = {"a": None, "c": "3"}
    body["contentType"] = "text/x-test"
    status, _, patched = jcall(fakegcs, "PATCH", opath("p"), body)
    assert status == 200
    assert patched["generation"] == res["generation"]
    assert patched["metageneration"] == "2"
    assert patched["metadata"] == {"b": "2", "c": "3"}
    assert patched["contentType"] == "text/x-test"
    assert patched["etag"] != res["etag"]
    status, _, cleared = jcall(fakegcs, "PATCH", opath("p"), {"metadata": None})
    assert status == 200 and "metadata" not in cleared
    assert cleared["metageneration"] == "3"
    assert fakegcs.get(BUCKET, "p") == b"data"


def test_update_replaces_all_writable_metadata(fakegcs):
    fakegcs.put(BUCKET, "u", b"x", metadata={"a": "1"}, content_type="text/plain")
    status, _, res = jcall(fakegcs, "PUT", opath("u"), {"metadata": {"z": "9"}})
    assert status == 200
    assert res["metadata"] == {"z": "9"}
    assert res["contentType"] == "application/octet-stream"
    assert res["metageneration"] == "2"


def test_precondition_failure_is_412_condition_not_met(fakegcs):
    res = fakegcs.put(BUCKET, "pc", b"x")
    status, _, body = jcall(fakegcs, "PATCH", opath("pc") + "?ifMetagenerationMatch=7",
                            {"metadata": {"a": "b"}})
    assert status == 412
    assert body["error"]["code"] == 412
    assert body["error"]["errors"][0]["reason"] == "conditionNotMet"
    status, _, _ = jcall(fakegcs, "PATCH", opath("pc") + "?ifMetagenerationMatch=1",
                         {"metadata": {"a": "b"}})
    assert status == 200
    status, _, _ = jcall(fakegcs, "PATCH", opath("pc") + "?ifGenerationMatch=%d" % (gen(res) + 1),
                         {"metadata": {"a": "c"}})
    assert status == 412


def test_if_generation_match_zero_creates_only_when_absent(fakegcs):
    status, _, first = upload(fakegcs, "once", b"1", "&ifGenerationMatch=0")
    assert status == 200
    status, _, body = upload(fakegcs, "once", b"2", "&ifGenerationMatch=0")
    assert status == 412 and body["error"]["errors"][0]["reason"] == "conditionNotMet"
    assert fakegcs.get(BUCKET, "once") == b"1"
    status, _, second = upload(fakegcs, "once", b"3", "&ifGenerationMatch=%s" % first["generation"])
    assert status == 200 and gen(second) > gen(first)
    status, _, _ = upload(fakegcs, "absent", b"x", "&ifGenerationNotMatch=0")
    assert status == 412


def test_read_preconditions_give_412_for_match_and_304_for_not_match(fakegcs):
    res = fakegcs.put(BUCKET, "r", b"x")
    g = gen(res)
    status, _, _ = call(fakegcs, "GET", opath("r") + "?ifGenerationMatch=%d" % (g + 1))
    assert status == 412
    status, _, _ = call(fakegcs, "GET", opath("r") + "?ifGenerationMatch=0")
    assert status == 412
    status, _, body = call(fakegcs, "GET", opath("r") + "?ifGenerationNotMatch=%d" % g)
    assert status == 304 and body == b""
    status, _, body = call(fakegcs, "GET", opath("r") + "?alt=media&ifMetagenerationNotMatch=1")
    assert status == 304 and body == b""
    status, _, body = call(fakegcs, "GET", opath("r") + "?alt=media&ifGenerationMatch=%d" % g)
    assert (status, body) == (200, b"x")
    status, _, body = call(fakegcs, "GET", xpath("r"), headers={"x-goog-if-generation-match": "1"})
    assert status == 412 and b"<Code>PreconditionFailed</Code>" in body
    status, _, body = call(fakegcs, "GET", xpath("r"),
                           headers={"x-goog-if-metageneration-match": "1"})
    assert (status, body) == (200, b"x")


def test_a_generation_that_is_no_longer_live_is_404(fakegcs):
    old = fakegcs.put(BUCKET, "g", b"old")
    new = fakegcs.put(BUCKET, "g", b"new")
    status, _, body = call(fakegcs, "GET", opath("g") + "?alt=media&generation=" + old["generation"])
    assert status == 404 and error_reason(body) == "notFound"
    status, _, body = call(fakegcs, "GET", xpath("g") + "?generation=" + old["generation"])
    assert status == 404 and b"<Code>NoSuchKey</Code>" in body
    status, _, body = call(fakegcs, "GET", xpath("g") + "?generation=" + new["generation"])
    assert (status, body) == (200, b"new")


def test_delete_is_204_honours_preconditions_then_404(fakegcs):
    res = fakegcs.put(BUCKET, "d", b"x")
    status, _, _ = call(fakegcs, "DELETE", opath("d") + "?ifGenerationMatch=%d" % (gen(res) + 1))
    assert status == 412
    status, _, body = call(fakegcs, "DELETE", opath("d") + "?ifGenerationMatch=" + res["generation"])
    assert (status, body) == (204, b"")
    status, _, _ = call(fakegcs, "DELETE", opath("d"))
    assert status == 404


def test_json_errors_have_the_gcs_body(fakegcs):
    status, _, body = jcall(fakegcs, "GET", opath("missing/x"))
    assert status == 404
    assert body == {"error": {"code": 404, "message": "No such object: test-bucket/missing/x",
                              "errors": [{"message": "No such object: test-bucket/missing/x",
                                          "domain": "global", "reason": "notFound"}]}}
    status, _, body = jcall(fakegcs, "GET", opath("x", bucket="no-such-bucket"))
    assert status == 404 and "bucket does not exist" in body["error"]["message"]


def test_buckets_get_insert_and_conflict(fakegcs):
    status, _, body = jcall(fakegcs, "GET", "/storage/v1/b/" + BUCKET)
    assert status == 200 and body["kind"] == "storage#bucket" and body["name"] == BUCKET
    status, _, body = jcall(fakegcs, "GET", "/storage/v1/b/nope-bucket")
    assert status == 404 and body["error"]["message"] == "The specified bucket does not exist."
    status, _, body = jcall(fakegcs, "POST", "/storage/v1/b?project=p", {"name": "new-bucket"})
    assert status == 200 and body["name"] == "new-bucket"
    status, _, body = jcall(fakegcs, "POST", "/storage/v1/b?project=p", {"name": "new-bucket"})
    assert status == 409
    status, _, body = jcall(fakegcs, "GET", "/storage/v1/b?project=p")
    assert [b["name"] for b in body["items"]] == ["new-bucket", BUCKET]


# --- listing ----------------------------------------------------------------------------

def list_all(gcs, **params):
    """Follow nextPageToken; returns (items, prefixes, pages)."""
    items, prefixes, pages, token = [], [], 0, None
    while True:
        query = dict(params)
        if token:
            query["pageToken"] = token
        qs = "&".join("%s=%s" % (k, quote(str(v), safe="")) for k, v in query.items())
        status, _, body = jcall(gcs, "GET", "/storage/v1/b/%s/o?%s" % (BUCKET, qs))
        assert status == 200
        pages += 1
        assert "items" not in body or body["items"]
        assert "prefixes" not in body or body["prefixes"]
        items += [i["name"] for i in body.get("items", [])]
        prefixes += body.get("prefixes", [])
        token = body.get("nextPageToken")
        if not token:
            return items, prefixes, pages


def test_list_pages_over_1000_entries_with_delimiter(fakegcs):
    files = ["d/f%04d" % i for i in range(1150)]
    dirs = ["d/s%02d/x" % i for i in range(30)] + ["d/s05/y", "d/s05/z/w"]
    for name in files + dirs:
        fakegcs.put(BUCKET, name, b"")
    fakegcs.put(BUCKET, "e/outside", b"")
    status, _, first = jcall(fakegcs, "GET", "/storage/v1/b/%s/o?prefix=d%%2F&delimiter=%%2F" % BUCKET)
    assert status == 200
    assert len(first["items"]) + len(first.get("prefixes", [])) == 1000
    assert "nextPageToken" in first
    items, prefixes, pages = list_all(fakegcs, prefix="d/", delimiter="/")
    assert pages == 2
    assert items == files
    assert prefixes == ["d/s%02d/" % i for i in range(30)]
    items, prefixes, pages = list_all(fakegcs, prefix="d/", delimiter="/", maxResults=7)
    assert items == files and prefixes == ["d/s%02d/" % i for i in range(30)]
    assert pages == (1150 + 30 + 6) // 7
    items, prefixes, _ = list_all(fakegcs, prefix="d/s05/")
    assert items == ["d/s05/x", "d/s05/y", "d/s05/z/w"] and prefixes == []
    status, _, page = jcall(fakegcs, "GET", "/storage/v1/b/%s/o?maxResults=5000" % BUCKET)
    assert len(page["items"]) == 1000


def test_list_of_empty_result_omits_items_and_prefixes(fakegcs):
    status, _, body = jcall(fakegcs, "GET", "/storage/v1/b/%s/o?prefix=nothing%%2F" % BUCKET)
    assert status == 200 and body == {"kind": "storage#objects"}


def test_list_prefixes_and_include_trailing_delimiter(fakegcs):
    for name in ("a/", "a/b", "a/c/d", "c", "dir2/x"):
        fakegcs.put(BUCKET, name, b"")
    items, prefixes, _ = list_all(fakegcs, delimiter="/")
    assert items == ["c"] and prefixes == ["a/", "dir2/"]
    items, prefixes, _ = list_all(fakegcs, delimiter="/", includeTrailingDelimiter="true")
    assert items == ["a/", "c"] and prefixes == ["a/", "dir2/"]
    items, prefixes, _ = list_all(fakegcs, prefix="a/", delimiter="/",
                                  includeTrailingDelimiter="true")
    assert items == ["a/", "a/b"] and prefixes == ["a/c/"]


def test_list_start_and_end_offsets(fakegcs):
    for name in ("a", "b", "b1", "c", "d", "e"):
        fakegcs.put(BUCKET, name, b"")
    items, _, _ = list_all(fakegcs, startOffset="b", endOffset="d")
    assert items == ["b", "b1", "c"]
    items, _, _ = list_all(fakegcs, startOffset="c")
    assert items == ["c", "d", "e"]


def test_list_order_is_by_utf8_bytes(fakegcs):
    names = ["é", "Z", "a", "~", "a b", "a+b", "ab", "日本", "\u00ff"]
    for name in names:
        fakegcs.put(BUCKET, name, b"")
    items, _, _ = list_all(fakegcs)
    assert items == sorted(names, key=lambda n: n.encode("utf-8"))


def test_fields_selects_parts_of_get_and_list(fakegcs):
    fakegcs.put(BUCKET, "f/1", b"abc", metadata={"m": "1"})
    fakegcs.put(BUCKET, "f/2/x", b"")
    status, _, body = jcall(fakegcs, "GET", opath("f/1") + "?fields=name,generation")
    assert status == 200 and set(body) == {"name", "generation"}
    status, _, body = jcall(fakegcs, "GET", opath("f/1") + "?fields=metadata%2Fm,size")
    assert body == {"metadata": {"m": "1"}, "size": "3"}
    query = "?prefix=f%2F&delimiter=%2F&fields=items(name,size,generation),prefixes,nextPageToken"
    status, _, body = jcall(fakegcs, "GET", "/storage/v1/b/%s/o%s" % (BUCKET, query))
    assert status == 200
    assert set(body) == {"items", "prefixes"}
    assert body["prefixes"] == ["f/2/"]
    assert set(body["items"][0]) == {"name", "size", "generation"}
    status, _, _ = jcall(fakegcs, "GET", opath("f/1") + "?fields=items(name")
    assert status == 400


# --- reads --------------------------------------------------------------------------------

def test_ranged_reads_on_xml_and_json(fakegcs):
    data = bytes(range(256)) * 40
    size = len(data)
    fakegcs.put(BUCKET, "rng", data)
    for path in (xpath("rng"), opath("rng") + "?alt=media",
                 "/download/storage/v1/b/%s/o/rng?alt=media" % BUCKET):
        status, headers, body = call(fakegcs, "GET", path)
        assert (status, body) == (200, data) and headers["Content-Range"] is None
        cases = {"bytes=10-19": (10, 19), "bytes=%d-" % (size - 5): (size - 5, size - 1),
                 "bytes=-7": (size - 7, size - 1), "bytes=100-999999": (100, size - 1)}
        for spec, (start, end) in cases.items():
            status, headers, body = call(fakegcs, "GET", path, headers={"Range": spec})
            assert status == 206, spec
            assert headers["Content-Range"] == "bytes %d-%d/%d" % (start, end, size)
            assert body == data[start:end + 1]
            assert headers["x-goog-stored-content-length"] == str(size)
        status, headers, body = call(fakegcs, "GET", path, headers={"Range": "bytes=%d-" % size})
        assert status == 416 and headers["Content-Range"] == "bytes */%d" % size
    status, _, body = call(fakegcs, "GET", xpath("rng"), headers={"Range": "bytes=999999-"})
    assert b"<Code>InvalidRange</Code>" in body
    status, _, body = call(fakegcs, "GET", opath("rng") + "?alt=media",
                           headers={"Range": "bytes=999999-"})
    assert error_reason(body) == "requestedRangeNotSatisfiable"


def test_xml_read_headers_match_gcs(fakegcs):
    data = b"0123456789"
    res = fakegcs.put(BUCKET, "h/x.txt", data, metadata={"goog-reserved-file-mtime": "1700000000"},
                      content_type="text/plain")
    for method in ("GET", "HEAD"):
        status, headers, body = call(fakegcs, method, xpath("h/x.txt"), headers={"Range": "bytes=2-3"})
        assert status == 206
        assert body == (b"23" if method == "GET" else b"")
        assert headers["Content-Length"] == "2"
        assert headers["x-goog-generation"] == res["generation"]
        assert headers["x-goog-metageneration"] == "1"
        assert sorted(headers.get_all("x-goog-hash")) == sorted(
            ["crc32c=" + res["crc32c"], "md5=" + res["md5Hash"]])
        assert headers["x-goog-stored-content-length"] == "10"
        assert headers["x-goog-stored-content-encoding"] == "identity"
        assert headers["x-goog-storage-class"] == "STANDARD"
        assert headers["x-goog-meta-goog-reserved-file-mtime"] == "1700000000"
        assert headers["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
        assert headers["Content-Type"] == "text/plain"
        assert headers["Last-Modified"].endswith(" GMT")
    status, headers, body = call(fakegcs, "HEAD", xpath("h/missing"))
    assert status == 404 and body == b""


def test_xml_error_documents(fakegcs):
    status, headers, body = call(fakegcs, "GET", xpath("no/such"))
    assert status == 404
    assert headers["Content-Type"].startswith("application/xml")
    assert body == (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code>"
                    b"<Message>The specified key does not exist.</Message>"
                    b"<Details>No such object: test-bucket/no/such</Details></Error>")
    status, _, body = call(fakegcs, "GET", "/no-such-bucket/x")
    assert status == 404 and b"<Code>NoSuchBucket</Code>" in body


def test_xml_put_and_delete(fakegcs):
    status, headers, _ = call(fakegcs, "PUT", xpath("x/put"), b"payload",
                              {"Content-Type": "text/plain", "x-goog-meta-color": "blue",
                               "x-goog-if-generation-match": "0"})
    assert status == 200 and headers["x-goog-generation"]
    res = fakegcs.stat(BUCKET, "x/put")
    assert res["metadata"] == {"color": "blue"} and res["contentType"] == "text/plain"
    status, _, body = call(fakegcs, "PUT", xpath("x/put"), b"again",
                           {"x-goog-if-generation-match": "0"})
    assert status == 412 and b"PreconditionFailed" in body
    status, _, body = call(fakegcs, "PUT", xpath("x/bad"), b"payload",
                           {"x-goog-hash": "md5=" + b64md5(b"other")})
    assert status == 400
    status, _, _ = call(fakegcs, "DELETE", xpath("x/put"))
    assert status == 204
    status, _, body = call(fakegcs, "DELETE", xpath("x/put"))
    assert status == 404 and b"NoSuchKey" in body


def test_xml_list_v1_and_v2_page_through_keys_and_prefixes(fakegcs):
    for name in ("l/a", "l/b", "l/c/1", "l/c/2", "l/d", "m"):
        fakegcs.put(BUCKET, name, b"")
    keys, prefixes, marker, pages = [], [], "", 0
    while True:
        status, _, body = call(fakegcs, "GET", "/%s?prefix=l%%2F&delimiter=%%2F&max-keys=2&marker=%s"
                               % (BUCKET, quote(marker, safe="")))
        assert status == 200
        assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?><ListBucketResult "
                               b"xmlns='http://doc.s3.amazonaws.com/2006-03-01'>")
        text = body.decode()
        pages += 1
        keys += re.findall(r"<Contents><Key>([^<]*)</Key><Generation>\d+</Generation>", text)
        prefixes += re.findall(r"<CommonPrefixes><Prefix>([^<]*)</Prefix>", text)
        if "<IsTruncated>true</IsTruncated>" not in text:
            break
        marker = re.search(r"<NextMarker>([^<]*)</NextMarker>", text).group(1)
    assert (keys, prefixes, pages) == (["l/a", "l/b", "l/d"], ["l/c/"], 2)
    status, _, body = call(fakegcs, "GET", "/%s?list-type=2&prefix=l%%2F&max-keys=3" % BUCKET)
    text = body.decode()
    assert "<KeyCount>3</KeyCount>" in text and "<NextContinuationToken>" in text
    token = re.search(r"<NextContinuationToken>([^<]*)<", text).group(1)
    status, _, body = call(fakegcs, "GET", "/%s?list-type=2&prefix=l%%2F&continuation-token=%s"
                           % (BUCKET, quote(token, safe="")))
    assert re.findall(r"<Key>([^<]*)</Key>", body.decode()) == ["l/c/2", "l/d"]


def test_keep_alive_survives_errors_heads_and_empty_bodies(fakegcs):
    fakegcs.put(BUCKET, "ka", b"abc")
    conn = http.client.HTTPConnection(fakegcs.host, fakegcs.port, timeout=10)
    try:
        seen = []
        for method, path in [("GET", xpath("ka")), ("HEAD", xpath("ka")), ("GET", xpath("nope")),
                             ("HEAD", xpath("nope")), ("GET", opath("ka")),
                             ("DELETE", opath("nope")), ("GET", xpath("ka"))]:
            conn.request(method, path)
            resp = conn.getresponse()
            resp.read()
            seen.append(resp.status)
            assert not resp.will_close
            sock = conn.sock
            assert sock is not None
        assert seen == [200, 200, 404, 404, 200, 404, 200]
    finally:
        conn.close()


def test_expect_100_continue_is_answered(fakegcs):
    data = b"z" * 100000
    with socket.create_connection((fakegcs.host, fakegcs.port), timeout=10) as sock:
        head = ("PUT %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\n"
                "Expect: 100-continue\r\n\r\n" % (xpath("cont"), fakegcs.host, fakegcs.port,
                                                  len(data)))
        sock.sendall(head.encode())
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200")
    assert fakegcs.get(BUCKET, "cont") == data


def test_chunked_request_bodies_are_accepted(fakegcs):
    conn = http.client.HTTPConnection(fakegcs.host, fakegcs.port, timeout=10)
    try:
        conn.request("PUT", xpath("chunked"), body=iter([b"abc", b"defg", b""]),
                     encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    finally:
        conn.close()
    assert fakegcs.get(BUCKET, "chunked") == b"abcdefg"


# --- single-request uploads ---------------------------------------------------------------

def test_multipart_upload_accepts_a_media_part_without_content_type(fakegcs):
    body, ctype = multipart_body({"name": "mp", "metadata": {"x": "1"}}, b"bytes", media_type=None)
    status, _, res = jcall(fakegcs, "POST", "/upload/storage/v1/b/%s/o?uploadType=multipart" % BUCKET,
                           raw=body, headers={"Content-Type": ctype})
    assert status == 200
    assert res["name"] == "mp" and res["size"] == "5" and res["metadata"] == {"x": "1"}
    assert res["contentType"] == "application/octet-stream"
    assert fakegcs.get(BUCKET, "mp") == b"bytes"


def test_upload_checksums_are_verified(fakegcs):
    path = "/upload/storage/v1/b/%s/o?uploadType=multipart" % BUCKET
    body, ctype = multipart_body({"name": "ck", "md5Hash": b64md5(b"other")}, b"data")
    status, _, res = jcall(fakegcs, "POST", path, raw=body, headers={"Content-Type": ctype})
    assert status == 400 and res["error"]["errors"][0]["reason"] == "invalid"
    body, ctype = multipart_body({"name": "ck", "md5Hash": b64md5(b"data"),
                                  "crc32c": crc32c.to_base64(crc32c.crc32c(b"data"))}, b"data")
    status, _, res = jcall(fakegcs, "POST", path, raw=body, headers={"Content-Type": ctype})
    assert status == 200
    wrong = crc32c.to_base64(crc32c.crc32c(b"datx"))
    status, _, _ = call(fakegcs, "POST", "/upload/storage/v1/b/%s/o?uploadType=media&name=ck2" % BUCKET,
                        b"data", {"x-goog-hash": "crc32c=" + wrong})
    assert status == 400
    assert fakegcs.stat(BUCKET, "ck2") is None


# --- resumable uploads ------------------------------------------------------------------

def test_resumable_upload_reports_the_persisted_range(fakegcs):
    data = bytes(range(256)) * 1024 * 2 + b"tail"          # 512 KiB + 4
    session = start_session(fakegcs, "res/obj", resource={"metadata": {"k": "v"}})
    status, headers, _ = put_chunk(fakegcs, session, b"", "bytes */*")
    assert status == 308 and headers["Range"] is None
    status, headers, _ = put_chunk(fakegcs, session, data[:KIB256], "bytes 0-%d/*" % (KIB256 - 1))
    assert status == 308 and headers["Range"] == "bytes=0-%d" % (KIB256 - 1)
    status, headers, _ = put_chunk(fakegcs, session, b"", "bytes */%d" % len(data))
    assert status == 308 and headers["Range"] == "bytes=0-%d" % (KIB256 - 1)
    status, headers, _ = put_chunk(fakegcs, session, data[KIB256:2 * KIB256],
                                   "bytes %d-%d/*" % (KIB256, 2 * KIB256 - 1))
    assert status == 308 and headers["Range"] == "bytes=0-%d" % (2 * KIB256 - 1)
    assert fakegcs.stat(BUCKET, "res/obj") is None
    status, _, body = put_chunk(fakegcs, session, data[2 * KIB256:],
                                "bytes %d-%d/%d" % (2 * KIB256, len(data) - 1, len(data)))
    assert status == 200
    res = json.loads(body)
    assert res["size"] == str(len(data)) and res["metadata"] == {"k": "v"}
    assert res["md5Hash"] == b64md5(data)
    assert res["crc32c"] == crc32c.to_base64(crc32c.crc32c(data))
    assert fakegcs.get(BUCKET, "res/obj") == data
    status, _, again = put_chunk(fakegcs, session, b"", "bytes */*")
    assert status == 200 and json.loads(again)["generation"] == res["generation"]


def test_resumable_intermediate_chunk_below_256k_is_400(fakegcs):
    session = start_session(fakegcs, "small")
    status, _, body = put_chunk(fakegcs, session, b"x" * 1000, "bytes 0-999/700000")
    assert status == 400
    assert "262144" in json.loads(body)["error"]["message"]
    status, headers, _ = put_chunk(fakegcs, session, b"", "bytes */*")
    assert status == 308 and headers["Range"] is None


def test_resumable_keeps_only_whole_256k_units_and_ignores_resent_bytes(fakegcs):
    data = bytes((i * 7) & 0xFF for i in range(3 * KIB256 + 100))
    session = start_session(fakegcs, "units")
    status, headers, _ = put_chunk(fakegcs, session, data[:300000], "bytes 0-299999/*")
    assert status == 308 and headers["Range"] == "bytes=0-%d" % (KIB256 - 1)
    # Resend from an earlier offset: bytes already stored are ignored.
    status, headers, _ = put_chunk(fakegcs, session, data[:2 * KIB256],
                                   "bytes 0-%d/*" % (2 * KIB256 - 1))
    assert status == 308 and headers["Range"] == "bytes=0-%d" % (2 * KIB256 - 1)
    # A chunk past the stored length is refused.
    status, _, _ = put_chunk(fakegcs, session, data[3 * KIB256:],
                             "bytes %d-%d/%d" % (3 * KIB256, len(data) - 1, len(data)))
    assert status == 503
    status, _, body = put_chunk(fakegcs, session, data[2 * KIB256:],
                                "bytes %d-%d/%d" % (2 * KIB256, len(data) - 1, len(data)))
    assert status == 200
    assert fakegcs.get(BUCKET, "units") == data


def test_resumable_status_query_with_matching_total_finalizes(fakegcs):
    session = start_session(fakegcs, "stream")
    data = b"s" * KIB256
    status, _, _ = put_chunk(fakegcs, session, data, "bytes 0-%d/*" % (KIB256 - 1))
    assert status == 308
    status, _, body = put_chunk(fakegcs, session, b"", "bytes */%d" % KIB256)
    assert status == 200 and json.loads(body)["size"] == str(KIB256)


def test_resumable_empty_object_and_no_308_override(fakegcs):
    session = start_session(fakegcs, "empty")
    status, _, body = put_chunk(fakegcs, session, b"", "bytes */0")
    assert status == 200 and json.loads(body)["size"] == "0"
    session = start_session(fakegcs, "override")
    status, headers, _ = put_chunk(fakegcs, session, b"o" * KIB256, "bytes 0-%d/*" % (KIB256 - 1),
                                   {"X-GUploader-No-308": "yes"})
    assert status == 200
    assert headers["X-Http-Status-Code-Override"] == "308"
    assert headers["Range"] == "bytes=0-%d" % (KIB256 - 1)


def test_resumable_preconditions_are_checked_at_finalize(fakegcs):
    session = start_session(fakegcs, "race", query="&ifGenerationMatch=0")
    status, _, _ = put_chunk(fakegcs, session, b"a" * KIB256, "bytes 0-%d/*" % (KIB256 - 1))
    assert status == 308
    winner = fakegcs.put(BUCKET, "race", b"winner")
    status, _, body = put_chunk(fakegcs, session, b"b", "bytes %d-%d/%d" % (KIB256, KIB256, KIB256 + 1))
    assert status == 412 and error_reason(body) == "conditionNotMet"
    assert fakegcs.stat(BUCKET, "race")["generation"] == winner["generation"]
    assert fakegcs.get(BUCKET, "race") == b"winner"


def test_resumable_checksum_from_metadata_is_verified(fakegcs):
    session = start_session(fakegcs, "sum", resource={"md5Hash": b64md5(b"expected")})
    status, _, body = put_chunk(fakegcs, session, b"actual", "bytes 0-5/6")
    assert status == 400
    assert fakegcs.stat(BUCKET, "sum") is None


def test_resumable_cancel_answers_499(fakegcs):
    session = start_session(fakegcs, "cancel")
    status, _, _ = call(fakegcs, "DELETE", session)
    assert status == 499
    status, _, _ = put_chunk(fakegcs, session, b"x", "bytes 0-0/1")
    assert status == 404
    assert fakegcs.stat(BUCKET, "cancel") is None


# --- compose, rewrite, copy, move ----------------------------------------------------------

def compose(gcs, dest, sources, query="", destination=None):
    body = {"sourceObjects": sources, "destination": destination or {"contentType": "text/plain"}}
    return jcall(gcs, "POST", opath(dest) + "/compose" + query, body)


def test_compose_concatenates_with_crc32c_and_component_count(fakegcs):
    parts = [b"alpha-", b"beta-", b"gamma"]
    gens = [fakegcs.put(BUCKET, "c/%d" % i, p)["generation"] for i, p in enumerate(parts)]
    status, _, res = compose(fakegcs, "c/all", [{"name": "c/0"}, {"name": "c/1", "generation": gens[1]},
                                                {"name": "c/2", "objectPreconditions":
                                                 {"ifGenerationMatch": gens[2]}}])
    assert status == 200
    whole = b"".join(parts)
    assert fakegcs.get(BUCKET, "c/all") == whole
    assert res["componentCount"] == 3 and "md5Hash" not in res
    assert res["crc32c"] == crc32c.to_base64(crc32c.crc32c(whole))
    assert res["contentType"] == "text/plain"
    status, headers, _ = call(fakegcs, "HEAD", xpath("c/all"))
    assert headers["x-goog-component-count"] == "3"
    assert headers.get_all("x-goog-hash") == ["crc32c=" + res["crc32c"]]
    status, _, res2 = compose(fakegcs, "c/all", [{"name": "c/all"}, {"name": "c/0"}],
                              query="?ifGenerationMatch=" + res["generation"])
    assert status == 200 and res2["componentCount"] == 4
    assert fakegcs.get(BUCKET, "c/all") == whole + parts[0]


def test_compose_failures(fakegcs):
    g0 = fakegcs.put(BUCKET, "s0", b"x")["generation"]
    fakegcs.put(BUCKET, "dest", b"old")
    status, _, body = compose(fakegcs, "dest", [{"name": "s0", "objectPreconditions":
                                                 {"ifGenerationMatch": str(int(g0) + 1)}}])
    assert status == 412
    status, _, body = compose(fakegcs, "dest", [{"name": "s0", "generation": str(int(g0) + 1)}])
    assert status == 404
    status, _, body = compose(fakegcs, "dest", [{"name": "s0"}], query="?ifGenerationMatch=0")
    assert status == 412
    status, _, body = compose(fakegcs, "dest", [{"name": "s0"}] * 33)
    assert status == 400
    status, _, body = compose(fakegcs, "dest", [{"name": "missing"}])
    assert status == 404
    assert fakegcs.get(BUCKET, "dest") == b"old"


def test_rewrite_accepts_a_null_body_and_finishes_in_one_call(fakegcs):
    src = fakegcs.put(BUCKET, "rw/src", b"content", metadata={"m": "1"}, content_type="text/plain")
    path = opath("rw/src") + "/rewriteTo/b/%s/o/%s" % (BUCKET, quote("rw/dst", safe=""))
    status, _, res = jcall(fakegcs, "POST", path, raw=b"null",
                           headers={"Content-Type": "application/json"})
    assert status == 200
    assert res["kind"] == "storage#rewriteResponse" and res["done"] is True
    assert res["totalBytesRewritten"] == "7" and res["objectSize"] == "7"
    dst = res["resource"]
    assert dst["name"] == "rw/dst" and dst["metadata"] == {"m": "1"}
    assert dst["contentType"] == "text/plain" and dst["md5Hash"] == src["md5Hash"]
    assert gen(dst) > gen(src) and dst["metageneration"] == "1"
    assert fakegcs.get(BUCKET, "rw/dst") == b"content"
    status, _, res = jcall(fakegcs, "POST", path + "?ifSourceGenerationMatch=1", raw=b"null")
    assert status == 412
    status, _, res = jcall(fakegcs, "POST", path + "?ifGenerationMatch=0", raw=b"null")
    assert status == 412
    status, _, res = jcall(fakegcs, "POST", path, {"contentType": "text/x-new"})
    assert status == 200 and res["resource"]["contentType"] == "text/x-new"


def test_rewrite_in_steps_with_a_rewrite_token(fakegcs):
    data = b"r" * (3 * (1 << 20) + 5)
    fakegcs.put(BUCKET, "big-src", data)
    path = opath("big-src") + "/rewriteTo/b/%s/o/big-dst?maxBytesRewrittenPerCall=%d" % (BUCKET, 1 << 20)
    status, _, res = jcall(fakegcs, "POST", path)
    steps = 1
    while not res["done"]:
        assert res["totalBytesRewritten"] == str(steps * (1 << 20))
        status, _, res = jcall(fakegcs, "POST", path + "&rewriteToken=" + res["rewriteToken"])
        assert status == 200
        steps += 1
    assert steps == 4
    assert fakegcs.get(BUCKET, "big-dst") == data


def test_copy_to_another_bucket(fakegcs):
    fakegcs.create_bucket("other-bucket")
    fakegcs.put(BUCKET, "cp", b"copy me")
    status, _, res = jcall(fakegcs, "POST", opath("cp") + "/copyTo/b/other-bucket/o/cp2")
    assert status == 200 and res["bucket"] == "other-bucket" and res["name"] == "cp2"
    assert fakegcs.get("other-bucket", "cp2") == b"copy me"


def test_move_renames_atomically_with_preconditions(fakegcs):
    src = fakegcs.put(BUCKET, "mv/a", b"moving", metadata={"k": "v"})
    fakegcs.put(BUCKET, "mv/taken", b"taken")
    base = opath("mv/a") + "/moveTo/o/"
    status, _, body = jcall(fakegcs, "POST", base + quote("mv/b", safe="") +
                            "?ifSourceGenerationMatch=%d" % (gen(src) + 1))
    assert status == 412
    status, _, body = jcall(fakegcs, "POST", base + quote("mv/taken", safe="") + "?ifGenerationMatch=0")
    assert status == 412
    assert fakegcs.get(BUCKET, "mv/a") == b"moving"
    status, _, res = jcall(fakegcs, "POST", base + quote("mv/b", safe="") +
                           "?ifSourceGenerationMatch=%s&ifGenerationMatch=0" % src["generation"])
    assert status == 200
    assert res["name"] == "mv/b" and res["metadata"] == {"k": "v"}
    assert gen(res) > gen(src) and res["metageneration"] == "1"
    assert fakegcs.stat(BUCKET, "mv/a") is None
    assert fakegcs.get(BUCKET, "mv/b") == b"moving"
    status, _, _ = jcall(fakegcs, "POST", opath("mv/b") + "/moveTo/o/" + quote("mv/b", safe=""))
    assert status == 400


# --- test controls ----------------------------------------------------------------------------

def test_status_fault_hits_the_next_matching_requests_only(fakegcs):
    fakegcs.put(BUCKET, "f/target", b"t")
    fakegcs.put(BUCKET, "f/bystander", b"b")
    fakegcs.fault("xml.get", count=2, status=503, name_contains="target")
    status, _, body = call(fakegcs, "GET", xpath("f/bystander"))
    assert status == 200
    status, _, body = call(fakegcs, "GET", opath("f/target") + "?alt=media")
    assert status == 200
    for _ in range(2):
        status, headers, body = call(fakegcs, "GET", xpath("f/target"))
        assert status == 503 and b"<Error>" in body
    status, _, body = call(fakegcs, "GET", xpath("f/target"))
    assert (status, body) == (200, b"t")
    assert fakegcs.pending_faults() == []


def test_status_fault_after_the_operation_loses_only_the_answer(fakegcs):
    fakegcs.fault("objects.insert", status=503, after=True)
    status, _, _ = upload(fakegcs, "applied", b"1", "&ifGenerationMatch=0")
    assert status == 503
    assert fakegcs.get(BUCKET, "applied") == b"1"
    status, _, _ = upload(fakegcs, "applied", b"1", "&ifGenerationMatch=0")
    assert status == 412


def test_reset_fault_drops_the_connection_without_an_answer(fakegcs):
    fakegcs.put(BUCKET, "rst", b"x")
    fakegcs.fault("xml.get", reset=True)
    conn = http.client.HTTPConnection(fakegcs.host, fakegcs.port, timeout=10)
    try:
        conn.request("GET", xpath("rst"))
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            conn.getresponse()
    finally:
        conn.close()
    assert call(fakegcs, "GET", xpath("rst"))[0] == 200
    assert [e["status"] for e in fakegcs.log() if e["op"] == "xml.get"] == [0, 200]


def test_stall_fault_delays_the_answer(fakegcs):
    fakegcs.put(BUCKET, "slow", b"x")
    fakegcs.fault("objects.get", stall=0.6)
    started = time.monotonic()
    status, _, _ = call(fakegcs, "GET", opath("slow"))
    assert status == 200 and time.monotonic() - started >= 0.6
    conn = http.client.HTTPConnection(fakegcs.host, fakegcs.port, timeout=0.3)
    fakegcs.fault("objects.get", stall=1.0)
    try:
        conn.request("GET", opath("slow"))
        with pytest.raises(socket.timeout):
            conn.getresponse()
    finally:
        conn.close()


def test_cut_after_fault_sends_full_length_then_part_of_the_body(fakegcs):
    data = b"0123456789" * 1000
    fakegcs.put(BUCKET, "cut", data)
    fakegcs.fault("xml.get", cut_after=1234)
    conn = http.client.HTTPConnection(fakegcs.host, fakegcs.port, timeout=10)
    try:
        conn.request("GET", xpath("cut"))
        resp = conn.getresponse()
        assert resp.status == 200 and resp.headers["Content-Length"] == str(len(data))
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
        assert info.value.partial == data[:1234]
    finally:
        conn.close()
    assert call(fakegcs, "GET", xpath("cut"))[2] == data


def test_request_log_records_ops_status_and_price_class(fakegcs):
    fakegcs.put(BUCKET, "log/a", b"abc")          # harness calls are not logged
    call(fakegcs, "GET", "/_fake/ping")           # nor are control calls
    upload(fakegcs, "log/b", b"12345")
    call(fakegcs, "GET", "/storage/v1/b/%s/o?prefix=log%%2F" % BUCKET)
    call(fakegcs, "GET", opath("log/a"))
    call(fakegcs, "GET", opath("log/a") + "?alt=media")
    call(fakegcs, "HEAD", xpath("log/a"))
    call(fakegcs, "GET", xpath("log/a"), headers={"Range": "bytes=0-1"})
    call(fakegcs, "DELETE", opath("log/b"))
    call(fakegcs, "GET", "/storage/v1/b/" + BUCKET)
    entries = fakegcs.log()
    summary = [(e["op"], e["method"], e["status"], e["class"]) for e in entries]
    assert summary == [
        ("objects.insert", "POST", 200, "A"), ("objects.list", "GET", 200, "A"),
        ("objects.get", "GET", 200, "B"), ("objects.media", "GET", 200, "B"),
        ("xml.head", "HEAD", 200, "B"), ("xml.get", "GET", 206, "B"),
        ("objects.delete", "DELETE", 204, "free"), ("buckets.get", "GET", 200, "B")]
    assert entries[0]["bytes_in"] == 5 and entries[0]["query"]["name"] == "log/b"
    assert entries[3]["bytes_out"] == 3 and entries[4]["bytes_out"] == 0
    assert entries[5]["bytes_out"] == 2 and entries[5]["path"] == "/test-bucket/log/a"
    assert fakegcs.count("xml.get") == 1
    fakegcs.clear_log()
    assert fakegcs.log() == []


def test_shaping_adds_latency_and_caps_bandwidth(fakegcs):
    data = b"w" * 1_000_000
    fakegcs.put(BUCKET, "shaped", data)
    fakegcs.shape(latency_ms=150)
    started = time.monotonic()
    assert call(fakegcs, "GET", opath("shaped"))[0] == 200
    assert time.monotonic() - started >= 0.15
    fakegcs.shape(bandwidth_bps=2_000_000)
    started = time.monotonic()
    status, _, body = call(fakegcs, "GET", xpath("shaped"))
    elapsed = time.monotonic() - started
    assert body == data and elapsed >= 0.45
    fakegcs.shape()
    started = time.monotonic()
    call(fakegcs, "GET", xpath("shaped"))
    assert time.monotonic() - started < 0.4


def test_reset_drops_objects_buckets_and_faults(fakegcs):
    fakegcs.put(BUCKET, "gone", b"x")
    fakegcs.create_bucket("extra-bucket")
    fakegcs.fault("xml.get", status=500)
    fakegcs.reset()
    assert fakegcs.list(BUCKET) == []
    assert call(fakegcs, "GET", "/storage/v1/b/extra-bucket")[0] == 404
    assert fakegcs.pending_faults() == []
