"""Maps a request (method, path, query) to an operation and its handler.

The operation name (``objects.get``, ``xml.get``, ...) is what the request
log, the price classes and fault injection speak of, so routing happens
before anything else.  JSON API object names are one percent-encoded path
segment (``%2F`` for ``/``); the XML API keeps ``/`` literal.  Names whose
slashes a client left unencoded in a JSON path are still accepted.
"""

from dataclasses import dataclass

from . import jsonapi, uploads, xmlapi
from .messages import decode_segment

# Price class of each operation (GCS-API.md section 7).
PRICE_CLASS = {
    "buckets.get": "B", "buckets.insert": "A", "buckets.list": "A",
    "buckets.delete": "free",
    "objects.get": "B", "objects.media": "B", "objects.list": "A",
    "objects.insert": "A", "objects.patch": "A", "objects.update": "A",
    "objects.delete": "free", "objects.compose": "A", "objects.rewrite": "A",
    "objects.copy": "A", "objects.move": "A",
    # One Class A per upload is charged at objects.insert; the session's
    # data requests and its cancellation are not charged again.
    "uploads.chunk": "free", "uploads.cancel": "free",
    "xml.get": "B", "xml.head": "B", "xml.list": "A", "xml.headbucket": "B",
    "xml.put": "A", "xml.delete": "free",
    "unknown": "free",
}


@dataclass
class Route:
    op: str
    api: str                      # "json", "xml" or "control"
    handler: object
    bucket: object = None
    object: object = None
    dst_bucket: object = None
    dst_object: object = None

    @property
    def price_class(self):
        return PRICE_CLASS.get(self.op, "free")

    def names(self):
        return [n for n in (self.object, self.dst_object) if n]


def _join(segments):
    return "/".join(decode_segment(s) for s in segments)


def _unknown(api="json"):
    handler = jsonapi.not_found if api == "json" else xmlapi.unsupported
    return Route("unknown", api, handler)


def resolve(method, raw_path, query):
    if raw_path.startswith("/_fake/") or raw_path == "/_fake":
        return Route("control", "control", None)
    for prefix, kind in (("/storage/v1/", "api"), ("/upload/storage/v1/", "upload"),
                         ("/download/storage/v1/", "download")):
        if raw_path.startswith(prefix):
            segments = raw_path[len(prefix):].split("/")
            return _resolve_json(kind, method, segments, query)
    if raw_path.startswith("/storage/") or raw_path.startswith("/upload/") \
            or raw_path.startswith("/download/") or raw_path.startswith("/batch/"):
        return _unknown()
    return _resolve_xml(method, raw_path)


def _resolve_json(kind, method, segs, query):
    if not segs or segs[0] != "b":
        return _unknown()
    if len(segs) == 1 or (len(segs) == 2 and segs[1] == ""):
        if kind == "api" and method == "GET":
            return Route("buckets.list", "json", jsonapi.bucket_list)
        if kind == "api" and method == "POST":
            return Route("buckets.insert", "json", jsonapi.bucket_insert)
        return _unknown()
    bucket = decode_segment(segs[1])
    if len(segs) == 2:
        if kind == "api" and method == "GET":
            return Route("buckets.get", "json", jsonapi.bucket_get, bucket)
        if kind == "api" and method == "DELETE":
            return Route("buckets.delete", "json", jsonapi.bucket_delete, bucket)
        return _unknown()
    if segs[2] != "o":
        return _unknown()
    if len(segs) == 3 or (len(segs) == 4 and segs[3] == ""):
        return _resolve_objects_collection(kind, method, bucket, query)
    rest = segs[3:]
    if kind == "download":
        if method in ("GET", "HEAD"):
            return Route("objects.media", "json", jsonapi.object_get, bucket, _join(rest))
        return _unknown()
    if kind != "api":
        return _unknown()
    if method == "POST":
        for verb in ("rewriteTo", "copyTo"):
            if verb in rest[1:]:
                i = rest.index(verb, 1)
                tail = rest[i + 1:]
                if len(tail) >= 4 and tail[0] == "b" and tail[2] == "o":
                    op = "objects.rewrite" if verb == "rewriteTo" else "objects.copy"
                    handler = jsonapi.object_rewrite if verb == "rewriteTo" else jsonapi.object_copy
                    return Route(op, "json", handler, bucket, _join(rest[:i]),
                                 decode_segment(tail[1]), _join(tail[3:]))
        if "moveTo" in rest[1:]:
            i = rest.index("moveTo", 1)
            tail = rest[i + 1:]
            if len(tail) >= 2 and tail[0] == "o":
                return Route("objects.move", "json", jsonapi.object_move, bucket,
                             _join(rest[:i]), bucket, _join(tail[1:]))
        if len(rest) >= 2 and rest[-1] == "compose":
            return Route("objects.compose", "json", jsonapi.object_compose, bucket,
                         _join(rest[:-1]))
        return _unknown()
    name = _join(rest)
    if method == "GET":
        op = "objects.media" if query.get("alt") == "media" else "objects.get"
        return Route(op, "json", jsonapi.object_get, bucket, name)
    if method == "PATCH":
        return Route("objects.patch", "json", jsonapi.object_patch, bucket, name)
    if method == "PUT":
        return Route("objects.update", "json", jsonapi.object_update, bucket, name)
    if method == "DELETE":
        return Route("objects.delete", "json", jsonapi.object_delete, bucket, name)
    return _unknown()


def _resolve_objects_collection(kind, method, bucket, query):
    name = query.get("name")
    if kind == "api":
        if method == "GET":
            return Route("objects.list", "json", jsonapi.object_list, bucket)
        if method == "POST":
            return Route("objects.insert", "json", uploads.insert, bucket, name)
        return _unknown()
    if kind == "upload":
        if "upload_id" in query:
            if method in ("PUT", "POST"):
                return Route("uploads.chunk", "json", uploads.upload_chunk, bucket, name)
            if method == "DELETE":
                return Route("uploads.cancel", "json", uploads.cancel, bucket, name)
        elif method == "POST":
            return Route("objects.insert", "json", uploads.insert, bucket, name)
    return _unknown()


def _resolve_xml(method, raw_path):
    path = raw_path[1:]
    if not path:
        return _unknown("xml")
    if "/" not in path:
        bucket, obj = path, ""
    else:
        bucket, obj = path.split("/", 1)
    bucket = decode_segment(bucket)
    if obj == "":
        if method == "GET":
            return Route("xml.list", "xml", xmlapi.bucket_list, bucket)
        if method == "HEAD":
            return Route("xml.headbucket", "xml", xmlapi.bucket_head, bucket)
        return Route("unknown", "xml", xmlapi.unsupported, bucket)
    name = decode_segment(obj)
    table = {"GET": ("xml.get", xmlapi.object_get), "HEAD": ("xml.head", xmlapi.object_head),
             "PUT": ("xml.put", xmlapi.object_put), "DELETE": ("xml.delete", xmlapi.object_delete)}
    if method in table:
        op, handler = table[method]
        return Route(op, "xml", handler, bucket, name)
    return Route("unknown", "xml", xmlapi.unsupported, bucket, name)
