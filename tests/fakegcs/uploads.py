"""JSON API uploads: uploadType=media, multipart and resumable sessions.

Resumable sessions follow GCS's rules as clients rely on them:

* the initiating POST carries the metadata and the preconditions; it answers
  200 with a ``Location`` session URI (absolute, on this server);
* each PUT carries ``Content-Range: bytes a-b/*`` or ``a-b/TOTAL``; until the
  object is complete the answer is 308 with ``Range: bytes=0-LAST`` (no Range
  while nothing is stored), or 200 with ``X-Http-Status-Code-Override: 308``
  when the client sent ``X-GUploader-No-308: yes``;
* a chunk that is not the last must hold at least 256 KiB (400 otherwise) and
  only whole multiples of 256 KiB are kept, so the client must resume from the
  Range the server reports, not from what it sent;
* bytes already stored are ignored when sent again; a chunk that starts past
  the stored length is answered 503;
* ``bytes */TOTAL`` (empty body) queries the status, and finalizes when TOTAL
  equals the stored length; ``bytes */*`` only queries;
* preconditions and client checksums are checked when the object is
  finalized; a finished session answers 200 with the object again;
* DELETE cancels the session with 499.
"""

import email.message
import hashlib
import json
import threading
import uuid

from . import crc32c, errors, fields
from .messages import (Response, b64_to_bytes, empty_response, json_response,
                       parse_content_range, parse_goog_hash)
from .resources import encode_name, object_resource
from .store import (Payload, Preconditions, check_object_name, meta_from_json,
                    storage_class_from, verify_checksums)

CHUNK_GRANULARITY = 256 * 1024


def _result(obj, request, fields_param):
    value = object_resource(obj, request.base_url)
    return json_response(fields.filter_response(value, fields_param))


def _client_checksums(resource, request):
    """(md5_b64, crc_b64) the client asked us to verify, from metadata and x-goog-hash."""
    md5_b64 = (resource or {}).get("md5Hash")
    crc_b64 = (resource or {}).get("crc32c")
    hashes = parse_goog_hash(request.headers)
    md5_b64 = hashes.get("md5", md5_b64)
    crc_b64 = hashes.get("crc32c", crc_b64)
    if md5_b64:
        b64_to_bytes(md5_b64, "md5Hash")
    if crc_b64:
        b64_to_bytes(crc_b64, "crc32c")
    return md5_b64, crc_b64


def _object_name(request, resource):
    query_name = request.query.get("name")
    body_name = (resource or {}).get("name")
    if query_name and body_name and query_name != body_name:
        raise errors.invalid("Value '%s' in content does not agree with value '%s'."
                             % (body_name, query_name))
    name = query_name or body_name
    if not name:
        raise errors.required("Required parameter: name")
    check_object_name(name)
    return name


# --- single-request uploads ------------------------------------------------------

def parse_multipart(content_type, body):
    """Split a multipart/related body into (metadata dict, media bytes, media type)."""
    header = email.message.Message()
    header["Content-Type"] = content_type or ""
    boundary = header.get_param("boundary")
    if header.get_content_maintype() != "multipart" or not boundary:
        raise errors.invalid("Invalid multipart request: missing boundary.")
    delim = b"--" + boundary.encode("latin-1")

    def part_at(pos):
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            raise errors.invalid("Invalid multipart request.")
        start = line_end + 2
        if body.startswith(b"\r\n", start):
            head, content = b"", start + 2
        else:
            end = body.find(b"\r\n\r\n", start)
            if end < 0:
                raise errors.invalid("Invalid multipart request: bad part headers.")
            head, content = body[start:end], end + 4
        headers = {}
        for line in bytes(head).split(b"\r\n"):
            if b":" in line:
                key, value = line.split(b":", 1)
                headers[key.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        return headers, content

    first = body.find(delim)
    if first < 0:
        raise errors.invalid("Invalid multipart request: no parts.")
    _, meta_start = part_at(first)
    meta_end = body.find(b"\r\n" + delim, meta_start)
    if meta_end < 0:
        raise errors.invalid("Invalid multipart request: one part only.")
    media_headers, media_start = part_at(meta_end + 2)
    media_end = body.rfind(b"\r\n" + delim)
    if media_end < media_start:
        raise errors.invalid("Invalid multipart request: unterminated media part.")
    try:
        resource = json.loads(bytes(body[meta_start:meta_end]) or b"{}")
    except ValueError:
        raise errors.invalid("Invalid multipart request: metadata is not JSON.")
    if resource is not None and not isinstance(resource, dict):
        raise errors.invalid("Invalid multipart request: metadata is not an object.")
    media = memoryview(body)[media_start:media_end]     # no copy of the data
    return resource or {}, media, media_headers.get("content-type")


def _meta_for(resource, content_type, request):
    meta = meta_from_json(resource)
    if "contentType" not in meta and content_type:
        meta["contentType"] = content_type
    encoding = request.query.get("contentEncoding")
    if encoding and "contentEncoding" not in meta:
        meta["contentEncoding"] = encoding
    return meta


def insert(state, request, route):
    """POST /upload/storage/v1/b/B/o (and metadata-only POST /storage/v1/b/B/o)."""
    state.store.get_bucket(route.bucket)
    upload_type = request.query.get("uploadType")
    if upload_type == "resumable":
        return start_resumable(state, request, route)
    if upload_type == "media":
        resource, data = {}, request.body
        media_type = request.header("Content-Type") or "application/octet-stream"
    elif upload_type == "multipart":
        resource, data, media_type = parse_multipart(request.header("Content-Type"), request.body)
    elif upload_type is None and not request.raw_path.startswith("/upload/"):
        # objects.insert without media: an empty object from JSON metadata.
        resource, data, media_type = request.json_body() or {}, b"", None
    else:
        raise errors.invalid("Invalid upload type: %s" % upload_type)
    name = _object_name(request, resource)
    md5_b64, crc_b64 = _client_checksums(resource, request)
    payload = Payload.of(data)
    verify_checksums(payload, md5_b64, crc_b64)
    obj = state.store.insert_object(route.bucket, name, payload,
                                    _meta_for(resource, media_type, request),
                                    storage_class_from(resource),
                                    Preconditions.from_query(request))
    return _result(obj, request, request.query.get("fields"))


# --- resumable sessions ----------------------------------------------------------------

class Session:
    def __init__(self, upload_id, bucket, name, meta, storage_class, pre,
                 fields_param, declared_total, md5_b64, crc_b64):
        self.upload_id = upload_id
        self.bucket = bucket
        self.name = name
        self.meta = meta
        self.storage_class = storage_class
        self.pre = pre
        self.fields_param = fields_param
        self.declared_total = declared_total
        self.md5_b64 = md5_b64
        self.crc_b64 = crc_b64
        self.chunks = []
        self.persisted = 0
        self.crc = 0
        self.md5 = hashlib.md5()
        self.result = None
        self.error = None
        self.lock = threading.Lock()

    def append(self, data):
        if not len(data):
            return
        whole = isinstance(data, memoryview) and isinstance(data.obj, bytes) \
            and len(data) == len(data.obj)
        data = data.obj if whole else bytes(data)
        self.chunks.append(data)
        self.persisted += len(data)
        self.crc = crc32c.crc32c(data, self.crc)
        self.md5.update(data)

    def payload(self):
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        return Payload(data, self.crc, self.md5.digest())


class Sessions:
    def __init__(self):
        self._lock = threading.Lock()
        self._sessions = {}

    def add(self, session):
        with self._lock:
            self._sessions[session.upload_id] = session

    def get(self, upload_id):
        with self._lock:
            session = self._sessions.get(upload_id)
        if session is None:
            raise errors.no_such_upload(upload_id)
        return session

    def remove(self, upload_id):
        with self._lock:
            return self._sessions.pop(upload_id, None)

    def reset(self):
        with self._lock:
            self._sessions = {}


def start_resumable(state, request, route):
    resource = request.json_body() or {}
    name = _object_name(request, resource)
    declared = request.header("X-Upload-Content-Length")
    try:
        declared = int(declared) if declared not in (None, "") else None
    except ValueError:
        raise errors.invalid("Invalid X-Upload-Content-Length: %s" % declared)
    md5_b64, crc_b64 = _client_checksums(resource, request)
    upload_id = "fake-" + uuid.uuid4().hex
    session = Session(upload_id, route.bucket, name,
                      _meta_for(resource, request.header("X-Upload-Content-Type"), request),
                      storage_class_from(resource), Preconditions.from_query(request),
                      request.query.get("fields"), declared, md5_b64, crc_b64)
    state.sessions.add(session)
    location = "%s/upload/storage/v1/b/%s/o?uploadType=resumable&name=%s&upload_id=%s" % (
        request.base_url, route.bucket, encode_name(name), upload_id)
    return empty_response(200, [("Location", location), ("X-GUploader-UploadID", upload_id)])


def _incomplete(session, request):
    headers = [("X-GUploader-UploadID", session.upload_id)]
    if session.persisted:
        headers.append(("Range", "bytes=0-%d" % (session.persisted - 1)))
    if (request.header("X-GUploader-No-308") or "").lower() == "yes":
        headers.append(("X-Http-Status-Code-Override", "308"))
        return Response(200, headers, b"")
    return Response(308, headers, b"")


def _finalize(state, session, request):
    payload = session.payload()
    md5_b64, crc_b64 = session.md5_b64, session.crc_b64
    hashes = parse_goog_hash(request.headers)
    md5_b64 = hashes.get("md5", md5_b64)
    crc_b64 = hashes.get("crc32c", crc_b64)
    try:
        verify_checksums(payload, md5_b64, crc_b64)
        obj = state.store.insert_object(session.bucket, session.name, payload,
                                        session.meta, session.storage_class, session.pre)
    except errors.GcsError as err:
        session.error = err
        session.chunks = []
        raise
    session.result = obj
    session.chunks = []
    return _result(obj, request, session.fields_param)


def _too_small(length):
    return errors.invalid(
        "Invalid request.  The number of bytes uploaded is required to be equal or "
        "greater than %d, except for the final request (it's recommended to be the "
        "exact multiple of %d).  The received request contained %d bytes, which does "
        "not meet this requirement." % (CHUNK_GRANULARITY, CHUNK_GRANULARITY, length))


def upload_chunk(state, request, route):
    """PUT (or POST) to a session URI."""
    session = state.sessions.get(request.query.get("upload_id", ""))
    with session.lock:
        if session.result is not None:
            return _result(session.result, request, session.fields_param)
        if session.error is not None:
            raise session.error
        return _chunk_locked(state, session, request)


def _chunk_locked(state, session, request):
    body = memoryview(request.body).cast("B") if request.body else memoryview(b"")
    header = request.header("Content-Range")
    if header is None:
        # The whole (remaining) object in one request.
        session.append(body)
        return _finalize(state, session, request)
    first, last, total = parse_content_range(header)
    if (total is not None and session.declared_total is not None
            and total != session.declared_total):
        raise errors.invalid("Content-Range total %d does not match X-Upload-Content-Length %d."
                             % (total, session.declared_total))
    if first is None:
        if len(body):
            raise errors.invalid("Content-Range 'bytes */N' must come with an empty body.")
        if total is not None and total == session.persisted:
            return _finalize(state, session, request)
        return _incomplete(session, request)
    if last - first + 1 != len(body):
        raise errors.invalid("Content-Range %s does not match the %d bytes sent."
                             % (header, len(body)))
    if total is not None and last >= total:
        raise errors.invalid("Content-Range %s goes past the total size." % header)
    if session.declared_total is not None and last >= session.declared_total:
        raise errors.invalid("Content-Range %s goes past X-Upload-Content-Length %d."
                             % (header, session.declared_total))
    if first > session.persisted:
        raise errors.GcsError(
            503, "backendError",
            "Invalid request. According to the Content-Range header, the upload offset "
            "is %d byte(s), which exceeds already uploaded size of %d byte(s)."
            % (first, session.persisted))
    skip = session.persisted - first
    if total is not None and last + 1 == total:
        session.append(body[skip:])
        return _finalize(state, session, request)
    if len(body) < CHUNK_GRANULARITY:
        raise _too_small(len(body))
    end = first + len(body)
    kept = end - end % CHUNK_GRANULARITY
    if kept > session.persisted:
        session.append(body[skip:kept - first])
    return _incomplete(session, request)


def cancel(state, request, route):
    upload_id = request.query.get("upload_id", "")
    if state.sessions.remove(upload_id) is None:
        raise errors.no_such_upload(upload_id)
    return empty_response(499)
