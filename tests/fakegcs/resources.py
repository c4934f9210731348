"""JSON resources and header values rendered from stored state.

The object resource follows GCS field names and types: int64 values
(generation, metageneration, size) are strings, hashes are base64, times are
RFC 3339 with milliseconds.  Links are absolute URLs on this server, built
from the Host the client used, because clients (rclone) download through
``mediaLink``.
"""

import base64
import email.utils
import functools
from datetime import datetime, timezone
from urllib.parse import quote

from . import crc32c

PROJECT_NUMBER = "123456789012"


@functools.lru_cache(maxsize=1 << 16)
def rfc3339(us):
    # Cached: every listing renders the stamps of all the objects it shows again.
    stamp = datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % ((us // 1000) % 1000)


def http_date(us):
    return email.utils.formatdate(us / 1_000_000, usegmt=True)


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@functools.lru_cache(maxsize=1 << 16)
def json_etag(generation, metageneration):
    """The JSON API etag: base64 of a small protobuf {1: generation, 2: metageneration}."""
    raw = b"\x08" + _varint(generation) + b"\x10" + _varint(metageneration)
    return base64.b64encode(raw).decode("ascii")


def xml_etag(obj):
    """The XML API ETag: quoted hex MD5, or an opaque value for composites."""
    if obj.md5 is not None:
        return '"%s"' % obj.md5.hex()
    return '"-%s"' % json_etag(obj.generation, obj.metageneration)


def encode_name(name):
    return quote(name, safe="")


def object_resource(obj, base_url, shared=False):
    """The object's JSON resource: a fresh dict the caller may change, or with shared, the
    kept one, which the caller must not change."""
    res = obj.rendered.get(base_url)
    if res is None:
        res = obj.rendered[base_url] = _render_object(obj, base_url)
    if shared:
        return res
    res = dict(res)
    if "metadata" in res:
        res["metadata"] = dict(res["metadata"])
    return res


def _render_object(obj, base_url):
    enc = encode_name(obj.name)
    res = {
        "kind": "storage#object",
        "id": "%s/%s/%d" % (obj.bucket, obj.name, obj.generation),
        "selfLink": "%s/storage/v1/b/%s/o/%s" % (base_url, obj.bucket, enc),
        "mediaLink": "%s/download/storage/v1/b/%s/o/%s?generation=%d&alt=media"
                     % (base_url, obj.bucket, enc, obj.generation),
        "name": obj.name,
        "bucket": obj.bucket,
        "generation": str(obj.generation),
        "metageneration": str(obj.metageneration),
        "contentType": obj.content_type,
        "storageClass": obj.storage_class,
        "size": str(obj.size),
    }
    if obj.md5 is not None:
        res["md5Hash"] = base64.b64encode(obj.md5).decode("ascii")
    for key in ("contentEncoding", "contentDisposition", "contentLanguage",
                "cacheControl", "customTime"):
        if key in obj.meta:
            res[key] = obj.meta[key]
    res["crc32c"] = crc32c.to_base64(obj.crc32c)
    if obj.component_count is not None:
        res["componentCount"] = obj.component_count
    res["etag"] = json_etag(obj.generation, obj.metageneration)
    created = rfc3339(obj.time_created)
    res["timeCreated"] = created
    res["updated"] = rfc3339(obj.updated)
    res["timeStorageClassUpdated"] = created
    res["timeFinalized"] = created
    if "metadata" in obj.meta:
        res["metadata"] = dict(obj.meta["metadata"])
    return res


def bucket_resource(bucket, base_url):
    return {
        "kind": "storage#bucket",
        "selfLink": "%s/storage/v1/b/%s" % (base_url, bucket.name),
        "id": bucket.name,
        "name": bucket.name,
        "projectNumber": PROJECT_NUMBER,
        "generation": str(bucket.time_created),
        "metageneration": "1",
        "location": "US",
        "storageClass": "STANDARD",
        "etag": "CAE=",
        "timeCreated": rfc3339(bucket.time_created),
        "updated": rfc3339(bucket.time_created),
        "locationType": "multi-region",
        "rpo": "DEFAULT",
        "iamConfiguration": {
            "bucketPolicyOnly": {"enabled": False},
            "uniformBucketLevelAccess": {"enabled": False},
            "publicAccessPrevention": "inherited",
        },
        "softDeletePolicy": {"retentionDurationSeconds": "0"},
        "hierarchicalNamespace": {"enabled": False},
    }


def media_headers(obj):
    """Headers GCS sends with object data (XML GET/HEAD and JSON alt=media)."""
    headers = [
        ("Content-Type", obj.content_type),
        ("ETag", xml_etag(obj)),
        ("Last-Modified", http_date(obj.updated)),
        ("x-goog-generation", str(obj.generation)),
        ("x-goog-metageneration", str(obj.metageneration)),
        ("x-goog-hash", "crc32c=" + crc32c.to_base64(obj.crc32c)),
    ]
    if obj.md5 is not None:
        headers.append(("x-goog-hash", "md5=" + base64.b64encode(obj.md5).decode("ascii")))
    headers += [
        ("x-goog-stored-content-length", str(obj.size)),
        ("x-goog-stored-content-encoding", obj.meta.get("contentEncoding") or "identity"),
        ("x-goog-storage-class", obj.storage_class),
        ("Accept-Ranges", "bytes"),
    ]
    if obj.component_count is not None:
        headers.append(("x-goog-component-count", str(obj.component_count)))
    for meta_key, header in (("contentEncoding", "Content-Encoding"),
                             ("cacheControl", "Cache-Control"),
                             ("contentDisposition", "Content-Disposition"),
                             ("contentLanguage", "Content-Language")):
        if meta_key in obj.meta:
            headers.append((header, obj.meta[meta_key]))
    if "cacheControl" not in obj.meta:
        headers.append(("Cache-Control", "private, max-age=0"))
    for key, value in obj.meta.get("metadata", {}).items():
        headers.append(("x-goog-meta-" + key, value))
    return headers
