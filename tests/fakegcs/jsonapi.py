"""JSON API handlers: buckets and object metadata operations.

Each handler takes (state, request, route) and returns a Response or raises
a GcsError.  Uploads live in uploads.py; data downloads share media.py with
the XML API.
"""

import re
import uuid

from . import errors, fields
from .media import media_response
from .messages import empty_response, json_response
from .resources import bucket_resource, object_resource
from .store import Preconditions, meta_from_json, meta_patch, storage_class_from

MAX_LIST_RESULTS = 1000
MAX_COMPOSE_SOURCES = 32
MIN_REWRITE_STEP = 1 << 20
_BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def _filtered(value, request):
    return json_response(fields.filter_response(value, request.query.get("fields")))


def _object_json(obj, request):
    return _filtered(object_resource(obj, request.base_url), request)


# --- buckets -------------------------------------------------------------------

def bucket_get(state, request, route):
    bucket = state.store.get_bucket(route.bucket)
    return _filtered(bucket_resource(bucket, request.base_url), request)


def bucket_insert(state, request, route):
    if not request.query.get("project"):
        raise errors.required("Required parameter: project")
    body = request.json_body(allow_empty=False) or {}
    name = body.get("name")
    if not name:
        raise errors.required("Required field: name")
    if not _BUCKET_NAME_RE.match(name) or ".." in name:
        raise errors.invalid("Invalid bucket name: '%s'" % name)
    bucket = state.store.create_bucket(name)
    return _filtered(bucket_resource(bucket, request.base_url), request)


def bucket_list(state, request, route):
    if not request.query.get("project"):
        raise errors.required("Required parameter: project")
    prefix = request.query.get("prefix", "")
    items = [bucket_resource(b, request.base_url) for b in state.store.list_buckets()
             if b.name.startswith(prefix)]
    result = {"kind": "storage#buckets"}
    if items:
        result["items"] = items
    return _filtered(result, request)


def bucket_delete(state, request, route):
    state.store.delete_bucket(route.bucket)
    return empty_response(204)


# --- object metadata -------------------------------------------------------------

def object_get(state, request, route):
    alt = request.query.get("alt", "json")
    if route.op == "objects.media":
        alt = "media"
    if alt not in ("json", "media"):
        raise errors.invalid("Invalid value for alt: %s" % alt)
    obj = state.store.get_object(route.bucket, route.object,
                                 generation=request.int_param("generation"),
                                 pre=Preconditions.from_query(request), read=True)
    if alt == "media":
        return media_response(obj, request)
    return _object_json(obj, request)


def object_list(state, request, route):
    query = request.query
    if query.get("matchGlob"):
        raise errors.not_implemented("matchGlob")
    max_results = request.int_param("maxResults")
    if max_results is None or max_results <= 0 or max_results > MAX_LIST_RESULTS:
        max_results = MAX_LIST_RESULTS
    page = state.store.list_objects(
        route.bucket,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        start_offset=query.get("startOffset", ""),
        end_offset=query.get("endOffset", ""),
        page_token=query.get("pageToken") or None,
        max_results=max_results,
        include_trailing_delimiter=query.get("includeTrailingDelimiter", "").lower() == "true")
    result = {"kind": "storage#objects"}
    if page.next_token:
        result["nextPageToken"] = page.next_token
    if page.prefixes:
        result["prefixes"] = page.prefixes
    if page.items:
        # Shared: the fields filter and the JSON encoder only read them.
        result["items"] = [object_resource(o, request.base_url, shared=True)
                           for o in page.items]
    return _filtered(result, request)


def object_patch(state, request, route):
    body = request.json_body() or {}
    obj = state.store.update_metadata(route.bucket, route.object,
                                      request.int_param("generation"),
                                      Preconditions.from_query(request),
                                      lambda current: meta_patch(current.meta, body))
    return _object_json(obj, request)


def object_update(state, request, route):
    body = request.json_body(allow_empty=False) or {}
    meta = meta_from_json(body)
    obj = state.store.update_metadata(route.bucket, route.object,
                                      request.int_param("generation"),
                                      Preconditions.from_query(request),
                                      lambda current: meta)
    return _object_json(obj, request)


def object_delete(state, request, route):
    state.store.delete_object(route.bucket, route.object,
                              generation=request.int_param("generation"),
                              pre=Preconditions.from_query(request))
    return empty_response(204)


# --- server-side data operations ----------------------------------------------------

def _int_field(value, what):
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.invalid("Invalid value for %s: %s" % (what, value))


def object_compose(state, request, route):
    body = request.json_body(allow_empty=False) or {}
    sources = body.get("sourceObjects")
    if not sources or not isinstance(sources, list):
        raise errors.required("Required field: sourceObjects")
    if len(sources) > MAX_COMPOSE_SOURCES:
        raise errors.invalid("The number of source components provided (%d) exceeds "
                             "the maximum (%d)." % (len(sources), MAX_COMPOSE_SOURCES))
    parsed = []
    for source in sources:
        if not isinstance(source, dict) or not source.get("name"):
            raise errors.required("Required field: sourceObjects[].name")
        pre = source.get("objectPreconditions") or {}
        parsed.append((source["name"],
                       _int_field(source.get("generation"), "generation"),
                       _int_field(pre.get("ifGenerationMatch"), "ifGenerationMatch")))
    destination = body.get("destination") or {}
    obj = state.store.compose(route.bucket, route.object, parsed,
                              meta_from_json(destination),
                              storage_class_from(destination),
                              Preconditions.from_query(request))
    return _object_json(obj, request)


def _copy(state, request, route, override):
    return state.store.copy(route.bucket, route.object,
                            request.int_param("sourceGeneration"),
                            Preconditions.from_query(request, source=True),
                            route.dst_bucket, route.dst_object, override,
                            Preconditions.from_query(request))


def object_copy(state, request, route):
    state.store.get_bucket(route.dst_bucket)
    obj = _copy(state, request, route, request.json_body())
    return _object_json(obj, request)


def object_rewrite(state, request, route):
    """Rewrite finishes in one call unless maxBytesRewrittenPerCall asks for steps."""
    state.store.get_bucket(route.dst_bucket)
    override = request.json_body()
    source = state.store.get_object(route.bucket, route.object,
                                    generation=request.int_param("sourceGeneration"),
                                    pre=Preconditions.from_query(request, source=True),
                                    read=False)
    size = source.size
    step = request.int_param("maxBytesRewrittenPerCall")
    token = request.query.get("rewriteToken")
    done_bytes = 0
    if token:
        with state.lock:
            done_bytes = state.rewrites.get(token)
        if done_bytes is None:
            raise errors.invalid("Invalid rewrite token.")
    if step is not None:
        step = max(step, MIN_REWRITE_STEP)
        done_bytes += step
        if done_bytes < size:
            token = token or uuid.uuid4().hex
            with state.lock:
                state.rewrites[token] = done_bytes
            return json_response({"kind": "storage#rewriteResponse",
                                  "totalBytesRewritten": str(done_bytes),
                                  "objectSize": str(size), "done": False,
                                  "rewriteToken": token})
    obj = _copy(state, request, route, override)
    if token:
        with state.lock:
            state.rewrites.pop(token, None)
    result = {"kind": "storage#rewriteResponse",
              "totalBytesRewritten": str(obj.size), "objectSize": str(obj.size),
              "done": True,
              "resource": object_resource(obj, request.base_url)}
    return _filtered(result, request)


def object_move(state, request, route):
    obj = state.store.move(route.bucket, route.object, route.dst_object,
                           Preconditions.from_query(request, source=True),
                           Preconditions.from_query(request))
    return _object_json(obj, request)


def not_found(state, request, route):
    raise errors.GcsError(404, "notFound", "Not Found")

