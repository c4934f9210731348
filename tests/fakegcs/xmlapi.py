"""XML API handlers (path style: /BUCKET/OBJECT).

Reads are the important part: GET and HEAD with Range, ?generation=,
x-goog-if-generation-match / x-goog-if-metageneration-match and the standard
If-Match / If-None-Match, answered with the x-goog-* headers GCS sends.
Simple PUT, DELETE and the v1/v2 bucket listing are provided as well.
Errors are rendered as XML documents by the server.
"""

import base64
from urllib.parse import quote
from xml.sax.saxutils import escape

from . import crc32c, errors
from .media import check_http_conditions, media_response
from .messages import Response, b64_to_bytes, empty_response, parse_goog_hash
from .resources import rfc3339, xml_etag
from .store import Payload, Preconditions, encode_token, storage_class_from, verify_checksums

LIST_NAMESPACE = "http://doc.s3.amazonaws.com/2006-03-01"
MAX_KEYS = 1000


def _header_int(request, name):
    value = request.header(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.invalid("Invalid value for %s: %s" % (name, value))


def _preconditions(request):
    return Preconditions(generation_match=_header_int(request, "x-goog-if-generation-match"),
                         metageneration_match=_header_int(request, "x-goog-if-metageneration-match"))


def object_get(state, request, route, head=False):
    obj = state.store.get_object(route.bucket, route.object,
                                 generation=request.int_param("generation"),
                                 pre=_preconditions(request), read=True)
    check_http_conditions(obj, request)
    return media_response(obj, request, head=head)


def object_head(state, request, route):
    return object_get(state, request, route, head=True)


def object_put(state, request, route):
    if request.header("x-goog-copy-source"):
        raise errors.not_implemented("XML copy")
    if request.header("x-goog-resumable") or "uploadId" in request.query:
        raise errors.not_implemented("XML resumable and multipart uploads")
    payload = Payload.of(request.body)
    hashes = parse_goog_hash(request.headers)
    md5_b64 = hashes.get("md5") or request.header("Content-MD5")
    if md5_b64:
        b64_to_bytes(md5_b64, "Content-MD5")
    verify_checksums(payload, md5_b64, hashes.get("crc32c"))
    meta = {"contentType": request.header("Content-Type") or "application/octet-stream"}
    for header, key in (("Cache-Control", "cacheControl"),
                        ("Content-Disposition", "contentDisposition"),
                        ("Content-Encoding", "contentEncoding"),
                        ("Content-Language", "contentLanguage"),
                        ("x-goog-custom-time", "customTime")):
        value = request.header(header)
        if value:
            meta[key] = value
    custom = {}
    for key, value in request.headers.items():
        if key.lower().startswith("x-goog-meta-"):
            custom[key[len("x-goog-meta-"):].lower()] = value
    if custom:
        meta["metadata"] = custom
    storage_class = storage_class_from({"storageClass": request.header("x-goog-storage-class")})
    obj = state.store.insert_object(route.bucket, route.object, payload, meta,
                                    storage_class, _preconditions(request))
    headers = [("ETag", xml_etag(obj)),
               ("x-goog-generation", str(obj.generation)),
               ("x-goog-metageneration", str(obj.metageneration)),
               ("x-goog-hash", "crc32c=" + crc32c.to_base64(obj.crc32c)),
               ("x-goog-hash", "md5=" + base64.b64encode(obj.md5).decode("ascii")),
               ("x-goog-stored-content-length", str(obj.size))]
    return empty_response(200, headers)


def object_delete(state, request, route):
    state.store.delete_object(route.bucket, route.object,
                              generation=request.int_param("generation"),
                              pre=_preconditions(request))
    return empty_response(204)


def _tag(name, value):
    return "<%s>%s</%s>" % (name, escape(value), name)


def bucket_list(state, request, route):
    query = request.query
    v2 = query.get("list-type") == "2"
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    url_encode = query.get("encoding-type") == "url"
    try:
        max_keys = int(query.get("max-keys") or MAX_KEYS)
    except ValueError:
        raise errors.invalid("Invalid max-keys")
    max_keys = min(max(max_keys, 0), MAX_KEYS) or MAX_KEYS
    token = None
    if v2:
        token = query.get("continuation-token") or None
        after = query.get("start-after", "")
    else:
        after = query.get("marker", "")
    if not token and after:
        if delimiter and after.endswith(delimiter) and after.startswith(prefix):
            resume = after[:-1] + chr(ord(after[-1]) + 1)
        else:
            resume = after + "\x00"
        token = encode_token(resume)
    page = state.store.list_objects(route.bucket, prefix=prefix, delimiter=delimiter,
                                    page_token=token, max_results=max_keys)

    def enc(text):
        return quote(text, safe="/") if url_encode else text

    out = ["<?xml version='1.0' encoding='UTF-8'?>",
           "<ListBucketResult xmlns='%s'>" % LIST_NAMESPACE,
           _tag("Name", route.bucket), _tag("Prefix", enc(prefix))]
    if v2:
        out.append(_tag("KeyCount", str(len(page.items) + len(page.prefixes))))
        out.append(_tag("MaxKeys", str(max_keys)))
        if query.get("continuation-token"):
            out.append(_tag("ContinuationToken", query["continuation-token"]))
        if query.get("start-after"):
            out.append(_tag("StartAfter", enc(query["start-after"])))
        if page.next_token:
            out.append(_tag("NextContinuationToken", page.next_token))
    else:
        out.append(_tag("Marker", enc(after)) if after else "<Marker/>")
        if page.next_token:
            last = max([o.name for o in page.items[-1:]] + page.prefixes[-1:])
            out.append(_tag("NextMarker", enc(last)))
    if delimiter:
        out.append(_tag("Delimiter", enc(delimiter)))
    out.append(_tag("IsTruncated", "true" if page.next_token else "false"))
    for obj in page.items:
        out.append("<Contents>%s%s%s%s%s%s</Contents>" % (
            _tag("Key", enc(obj.name)), _tag("Generation", str(obj.generation)),
            _tag("MetaGeneration", str(obj.metageneration)),
            _tag("LastModified", rfc3339(obj.updated)), _tag("ETag", xml_etag(obj)),
            _tag("Size", str(obj.size))))
    for common in page.prefixes:
        out.append("<CommonPrefixes>%s</CommonPrefixes>" % _tag("Prefix", enc(common)))
    out.append("</ListBucketResult>")
    body = "".join(out).encode("utf-8")
    return Response(200, [("Content-Type", "application/xml; charset=UTF-8")], body)


def bucket_head(state, request, route):
    state.store.get_bucket(route.bucket)
    return Response(200, [("Content-Type", "application/xml; charset=UTF-8")], b"", send_body=False)


def unsupported(state, request, route):
    raise errors.not_implemented("This XML API request")
