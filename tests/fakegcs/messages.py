"""Request and response values passed between the HTTP layer and the API code.

The HTTP layer (server.py) turns a socket exchange into a ``Request`` and
writes back a ``Response``; everything in between (jsonapi, xmlapi, uploads)
is plain functions over these values, which keeps the protocol logic free of
socket details.  Small parsers shared by several APIs live here too: Range,
Content-Range and x-goog-hash.
"""

import base64
import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from . import errors


@dataclass
class Request:
    method: str
    raw_path: str                 # percent-encoded path, without the query
    query: dict                   # first value of each parameter, decoded
    headers: object               # email.message.Message: case-insensitive get()
    body: bytes = b""
    base_url: str = ""            # scheme://host:port this client used

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json_body(self, allow_empty=True):
        """The body as JSON; None for an empty body or the literal ``null``."""
        if not self.body.strip():
            if allow_empty:
                return None
            raise errors.required("Required request body is missing.")
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise errors.invalid("Invalid JSON payload received. %s" % exc)
        if value is not None and not isinstance(value, dict):
            raise errors.invalid("Invalid JSON payload received: expected an object.")
        return value

    def int_param(self, name):
        value = self.query.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise errors.invalid("Invalid value for %s: %s" % (name, value))


@dataclass
class Response:
    status: int
    headers: list = field(default_factory=list)
    body: object = b""            # bytes, bytearray or memoryview
    send_body: bool = True        # False for HEAD: headers describe the body anyway

    def header(self, name):
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


def parse_query(raw_query):
    values = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        values.setdefault(key, value)
    return values


def decode_segment(segment):
    try:
        return unquote(segment, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise errors.invalid("The object name is not valid UTF-8.")


def json_response(value, status=200, headers=None):
    body = json.dumps(value).encode()
    hdrs = [("Content-Type", "application/json; charset=UTF-8")]
    hdrs += headers or []
    return Response(status, hdrs, body)


def empty_response(status, headers=None):
    return Response(status, list(headers or []), b"")


_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header, size):
    """Resolve a Range header against an object size.

    Returns None when the header is absent or not a single byte range (served
    as a plain 200, as HTTP allows), (start, end_inclusive) when satisfiable,
    and raises a 416 error otherwise.
    """
    if header is None:
        return None
    match = _RANGE_RE.match(header)
    if not match:
        return None
    first, last = match.group(1), match.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise errors.range_not_satisfiable(size, header)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = size - 1 if last == "" else int(last)
    if last != "" and end < start:
        return None
    if start >= size:
        raise errors.range_not_satisfiable(size, header)
    return start, min(end, size - 1)


_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(?:(\*)|(\d+)-(\d+))/(\*|\d+)\s*$")


def parse_content_range(header):
    """Parse an upload Content-Range.

    Returns (first, last, total) where first/last are None for ``bytes */T``
    and total is None for ``*``.  Raises 400 when malformed.
    """
    match = _CONTENT_RANGE_RE.match(header)
    if not match:
        raise errors.invalid("Failed to parse Content-Range header.")
    total = None if match.group(4) == "*" else int(match.group(4))
    if match.group(1):
        return None, None, total
    first, last = int(match.group(2)), int(match.group(3))
    if last < first:
        raise errors.invalid("Failed to parse Content-Range header.")
    return first, last, total


def parse_goog_hash(headers):
    """Collect x-goog-hash values (one or several lines, comma lists) into a dict."""
    result = {}
    for line in headers.get_all("x-goog-hash") or []:
        for item in line.split(","):
            if "=" not in item:
                continue
            key, value = item.strip().split("=", 1)
            result[key.strip().lower()] = value.strip()
    return result


def b64_to_bytes(text, what):
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise errors.invalid("Invalid %s: %s" % (what, text))
