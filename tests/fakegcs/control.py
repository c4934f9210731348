"""The test control interface under /_fake/: faults, shaping, request log, reset.

Tests steer the server through these endpoints; they are not GCS and never
appear in the request log.

  POST   /_fake/reset     drop everything; --bucket buckets come back empty
  POST   /_fake/buckets   {"name": "b"} create a bucket
  POST   /_fake/faults    {"op": "xml.get", "count": 3, <kind>, "name_contains": "x",
                           "after": false, "skip": 0, "at_byte": null}
                          kind is one of "status": 503, "reset": true,
                          "stall": SECONDS, "cut_after": BYTES,
                          "break_item": {"name": N, "field": F, "value": V}: in a JSON
                          answer, the object resource named N (the answer itself, or one
                          of a listing's items) gets F set to V, or removed when V is
                          absent or null; other answers are sent unchanged,
                          "drip": BYTES_PER_SECOND: the body trickles out at that rate,
                          "corrupt": OFFSET: one byte of the body (at OFFSET, or the last)
                          is flipped, headers unchanged,
                          "truncate": BYTES: the body is cut to BYTES with a Content-Length
                          that agrees (framing intact, other headers unchanged),
                          "body": TEXT: the body is replaced by TEXT (and the status by
                          "body_status" when given),
                          "redirect": URL: 302 to URL instead of running the operation,
                          "location": URL: the answer's Location header (an upload
                          session) becomes URL,
                          "inflate": BYTES: a JSON answer gets a "padding" field that long,
                          "page_token": "repeat" | "restart": an objects.list answer's
                          nextPageToken becomes the token of the request (repeat; on a
                          first page, one that starts it over) or a new one that starts
                          the listing over (restart, on pages that list something)
                          name_contains matches object names, and a listing's prefix;
                          skip: let that many matching requests pass first (chunk k of an
                          upload); at_byte: stall and reset strike after that many bytes of
                          the body instead of before the answer; before_body: a stall
                          strikes before the request's body is read (the upload stalls)
  GET    /_fake/faults    faults still pending
  DELETE /_fake/faults    clear faults
  POST   /_fake/shape     {"latency_ms": 30, "bandwidth_bps": 60000000}; {} clears
  GET    /_fake/log       list of {"op", "method", "path", "query", "status",
                           "class", "bytes_out", "bytes_in", "connection", ...};
                           "connection" numbers the TCP connection the request came on
  DELETE /_fake/log       clear the log
  POST   /_fake/requester_pays {"bucket": "b", "enabled": true}: requests on the bucket must
         name a billing project (userProject= on the JSON API, x-goog-user-project on XML)
  POST   /_fake/auth      {"required": true, "public_buckets": ["b"]}: check credentials
                          (see auth.py); reset turns it off
  POST   /_fake/auth/tokens  {"token": "...", "identity": "sa@...", "expires_in": 3599,
                          "scopes": [...] (optional)}: a token GCS accepts until it expires
  POST   /_fake/auth/revoke  {"token": "..."}: GCS no longer accepts it
  POST   /_fake/auth/deny    {"identity": "sa@...", "bucket": "b", "permissions": [...]}:
                          403 for those permissions (all when absent)
  GET    /_fake/ping      liveness
"""

import json
import threading
import uuid
from dataclasses import asdict, dataclass

from . import errors, store
from .messages import empty_response, json_response

FAULT_KINDS = ("status", "reset", "stall", "cut_after", "break_item", "drip", "corrupt",
               "truncate", "body", "redirect", "inflate", "page_token", "location")


@dataclass
class Fault:
    op: str                 # operation name, or "*" for any
    count: int
    kind: str
    value: object
    name_contains: object = None
    after: bool = False     # status/reset: apply after the operation ran
    skip: int = 0           # matching requests let through before the fault strikes
    at_byte: object = None  # stall/reset: strike after this many body bytes
    body_status: object = None  # body: the status to send with it
    before_body: bool = False   # stall: before reading the request body

    def matches(self, op, names):
        if self.op not in ("*", op):
            return False
        if self.name_contains is not None:
            return any(self.name_contains in n for n in names)
        return True


def parse_fault(spec):
    if not isinstance(spec, dict):
        raise errors.invalid("A fault is a JSON object.")
    # "is", not "in": cut_after=0 is a fault (0 == False would drop it).
    kinds = [k for k in FAULT_KINDS if spec.get(k) is not None and spec.get(k) is not False]
    if len(kinds) != 1:
        raise errors.invalid("A fault needs exactly one of %s." % ", ".join(FAULT_KINDS))
    kind = kinds[0]
    value = spec[kind]
    try:
        if kind == "status":
            value = int(value)
        elif kind in ("stall", "drip"):
            value = float(value)
            if value <= 0 and kind == "drip":
                raise ValueError
        elif kind in ("cut_after", "corrupt", "truncate", "inflate"):
            value = int(value)
            if value < 0:
                raise ValueError
        elif kind in ("body", "redirect", "location"):
            if not isinstance(value, str):
                raise ValueError
        elif kind == "page_token":
            if value not in ("repeat", "restart"):
                raise ValueError
        elif kind == "break_item":
            if (not isinstance(value, dict) or not isinstance(value.get("name"), str)
                    or not isinstance(value.get("field"), str)):
                raise ValueError
            value = {"name": value["name"], "field": value["field"],
                     "value": value.get("value")}
        else:
            value = True
        count = int(spec.get("count", 1))
        skip = int(spec.get("skip") or 0)
        at_byte = None if spec.get("at_byte") is None else int(spec["at_byte"])
        body_status = None if spec.get("body_status") is None else int(spec["body_status"])
    except (TypeError, ValueError):
        raise errors.invalid("Invalid fault value: %r" % spec)
    return Fault(op=str(spec.get("op") or "*"), count=count, kind=kind, value=value,
                 name_contains=spec.get("name_contains"), after=bool(spec.get("after", False)),
                 skip=skip, at_byte=at_byte, body_status=body_status,
                 before_body=bool(spec.get("before_body", False)))


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, fault):
        with self._lock:
            if fault.count > 0:
                self._faults.append(fault)

    def take(self, op, names):
        """Consume one use of the first fault matching this request."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(op, names):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self):
        with self._lock:
            return [asdict(f) for f in self._faults]

    def clear(self):
        with self._lock:
            self._faults = []


class RequestLog:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []

    def append(self, entry):
        with self._lock:
            self._entries.append(entry)

    def entries(self):
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self):
        with self._lock:
            self._entries = []


@dataclass
class Shaping:
    latency_ms: float = 0.0
    bandwidth_bps: float = 0.0


def break_item(response, spec):
    """The answer with one object resource damaged as a break_item fault says."""
    if response.status != 200 or not (response.header("Content-Type") or "").startswith(
            "application/json"):
        return response
    try:
        doc = json.loads(bytes(response.body))
    except ValueError:
        return response
    if not isinstance(doc, dict):
        return response
    resources = [doc] + [i for i in doc.get("items") or [] if isinstance(i, dict)]
    for res in resources:
        if res.get("name") != spec["name"]:
            continue
        if spec["value"] is None:
            res.pop(spec["field"], None)
        else:
            res[spec["field"]] = spec["value"]
    response.body = json.dumps(doc).encode()
    return response


def _json_doc(response):
    if response.status != 200 or not (response.header("Content-Type") or "").startswith(
            "application/json"):
        return None
    try:
        doc = json.loads(bytes(response.body))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _set_body(response, body):
    response.body = body
    response.headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
    return response


def set_location(response, url):
    response.headers = [(k, v) for k, v in response.headers if k.lower() != "location"]
    response.headers.append(("Location", url))
    return response


def damage_body(response, fault, request_query):
    """The answer as a body-damaging fault (corrupt, truncate, body, inflate, page_token)
    leaves it."""
    kind, value = fault.kind, fault.value
    body = bytes(response.body or b"")
    if kind == "corrupt" and body:
        data = bytearray(body)
        data[min(value, len(data) - 1)] ^= 0xFF
        return _set_body(response, bytes(data))
    if kind == "truncate":
        return _set_body(response, body[:value])
    if kind == "body":
        if fault.body_status is not None:
            response.status = fault.body_status
        return _set_body(response, value.encode())
    if kind == "inflate":
        if _json_doc(response) is None or not body.startswith(b"{"):
            return response
        # Spliced, not encoded: tens of megabytes go out at once.
        sep = b"," if body.strip() != b"{}" else b""
        return _set_body(response, b'{"padding": "' + b"x" * value + b'"' + sep + body[1:])
    doc = _json_doc(response)
    if doc is None:
        return response
    if kind == "page_token":
        if value == "repeat":
            # The token asked with, or on a first page one that will be asked with again.
            doc["nextPageToken"] = request_query.get("pageToken") or store.encode_token("\x00")
        elif value == "restart" and (doc.get("items") or doc.get("prefixes")):
            # Valid, new each time, and it sorts before every name: page one again.
            doc["nextPageToken"] = store.encode_token("\x00" + uuid.uuid4().hex)
    return _set_body(response, json.dumps(doc).encode())


def parse_shaping(spec):
    if not isinstance(spec, dict):
        raise errors.invalid("Shaping is a JSON object.")
    try:
        latency = float(spec.get("latency_ms") or 0)
        bandwidth = float(spec.get("bandwidth_bps") or 0)
    except (TypeError, ValueError):
        raise errors.invalid("Invalid shaping: %r" % spec)
    if latency < 0 or bandwidth < 0:
        raise errors.invalid("Invalid shaping: %r" % spec)
    return Shaping(latency, bandwidth)


def _json_body(request):
    if not request.body.strip():
        return {}
    try:
        return json.loads(request.body)
    except ValueError:
        raise errors.invalid("The control request body is not JSON.")


def handle(state, request):
    path = request.raw_path.rstrip("/")
    method = request.method
    if path == "/_fake/ping":
        return json_response({"ok": True})
    if path == "/_fake/reset" and method == "POST":
        state.reset()
        return json_response({"ok": True})
    if path == "/_fake/buckets" and method == "POST":
        name = _json_body(request).get("name")
        if not name:
            raise errors.required("Required field: name")
        state.store.create_bucket(name)
        return json_response({"ok": True, "name": name})
    if path == "/_fake/faults":
        if method == "POST":
            body = _json_body(request)
            specs = body if isinstance(body, list) else [body]
            for fault in [parse_fault(s) for s in specs]:
                state.faults.add(fault)
            return json_response({"ok": True})
        if method == "GET":
            return json_response(state.faults.pending())
        if method == "DELETE":
            state.faults.clear()
            return empty_response(204)
    if path == "/_fake/requester_pays" and method == "POST":
        body = _json_body(request)
        if not body.get("bucket"):
            raise errors.required("Required field: bucket")
        with state.lock:
            if body.get("enabled", True):
                state.requester_pays.add(body["bucket"])
            else:
                state.requester_pays.discard(body["bucket"])
        return json_response({"ok": True})
    if path.startswith("/_fake/auth") and method == "POST":
        return _auth_control(state, path, _json_body(request))
    if path == "/_fake/shape" and method == "POST":
        state.shaping = parse_shaping(_json_body(request))
        return json_response(asdict(state.shaping))
    if path == "/_fake/log":
        if method == "GET":
            return json_response(state.log.entries())
        if method == "DELETE":
            state.log.clear()
            return empty_response(204)
    raise errors.GcsError(404, "notFound", "No such control endpoint: %s %s" % (method, path))


def _auth_control(state, path, body):
    try:
        if path == "/_fake/auth":
            state.auth.configure(body.get("required", True), body.get("public_buckets", ()))
        elif path == "/_fake/auth/tokens":
            state.auth.add_token(body["token"], body["identity"], body["expires_in"],
                                 body.get("scopes"))
        elif path == "/_fake/auth/revoke":
            return json_response({"ok": state.auth.revoke(body["token"])})
        elif path == "/_fake/auth/deny":
            state.auth.deny(body["identity"], body["bucket"], body.get("permissions"))
        else:
            raise errors.GcsError(404, "notFound", "No such control endpoint: POST %s" % path)
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.invalid("Invalid auth control request: %r" % (exc,))
    return json_response({"ok": True})
