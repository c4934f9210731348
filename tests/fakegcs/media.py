"""Object data responses shared by the XML API (GET/HEAD) and JSON alt=media.

Both APIs answer with the same headers (resources.media_headers) and the same
Range rules: 200 without Range, 206 with Content-Range for a satisfiable
range, 416 otherwise.  The body is a memoryview slice of the stored bytes, so
serving a range of a large object copies nothing.
"""

from . import errors
from .messages import Response, parse_range
from .resources import media_headers, xml_etag


def media_response(obj, request, head=False):
    headers = media_headers(obj)
    size = obj.size
    view = memoryview(obj.data).cast("B") if size else memoryview(b"")
    span = parse_range(request.header("Range"), size)
    if span is None:
        return Response(200, headers, view, send_body=not head)
    start, end = span
    headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
    return Response(206, headers, view[start:end + 1], send_body=not head)


def check_http_conditions(obj, request):
    """Standard If-Match / If-None-Match conditions against the XML ETag."""
    etag = xml_etag(obj)
    if_match = request.header("If-Match")
    if if_match is not None:
        tags = [t.strip() for t in if_match.split(",")]
        if "*" not in tags and etag not in tags:
            raise errors.precondition_failed()
    if_none_match = request.header("If-None-Match")
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        if "*" in tags or etag in tags:
            err = errors.not_modified()
            err.headers.append(("ETag", etag))
            raise err
