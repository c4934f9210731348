"""The test control interface under /_fake/: faults, shaping, request log, reset.

Tests steer the server through these endpoints; they are not GCS and never
appear in the request log.

  POST   /_fake/reset     drop everything; --bucket buckets come back empty
  POST   /_fake/buckets   {"name": "b"} create a bucket
  POST   /_fake/faults    {"op": "xml.get", "count": 3, <kind>, "name_contains": "x",
                           "after": false}
                          kind is one of "status": 503, "reset": true,
                          "stall": SECONDS, "cut_after": BYTES,
                          "break_item": {"name": N, "field": F, "value": V}: in a JSON
                          answer, the object resource named N (the answer itself, or one
                          of a listing's items) gets F set to V, or removed when V is
                          absent or null; other answers are sent unchanged
  GET    /_fake/faults    faults still pending
  DELETE /_fake/faults    clear faults
  POST   /_fake/shape     {"latency_ms": 30, "bandwidth_bps": 60000000}; {} clears
  GET    /_fake/log       list of {"op", "method", "path", "query", "status",
                           "class", "bytes_out", "bytes_in", ...}
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
from dataclasses import asdict, dataclass

from . import errors
from .messages import empty_response, json_response

FAULT_KINDS = ("status", "reset", "stall", "cut_after", "break_item")


@dataclass
class Fault:
    op: str                 # operation name, or "*" for any
    count: int
    kind: str
    value: object
    name_contains: object = None
    after: bool = False     # status/reset: apply after the operation ran

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
        elif kind == "stall":
            value = float(value)
        elif kind == "cut_after":
            value = int(value)
            if value < 0:
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
    except (TypeError, ValueError):
        raise errors.invalid("Invalid fault value: %r" % spec)
    return Fault(op=str(spec.get("op") or "*"), count=count, kind=kind, value=value,
                 name_contains=spec.get("name_contains"), after=bool(spec.get("after", False)))


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
