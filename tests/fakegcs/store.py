"""In-memory buckets and objects with GCS semantics.

This is the state behind both APIs: object versions with generations and
metagenerations, precondition checks, and the listing algorithm (prefix,
delimiter, offsets, pages).  Every mutation happens under one lock, so each
operation is atomic the way single-object operations are on GCS, and the
checks a request asks for (preconditions) are evaluated against the same
state the change is applied to.

Object versions are immutable: a metadata patch makes a new version value
that shares the data.  Readers can therefore keep serving an object's bytes
without holding the lock.  No versioning is kept: only the live generation
of a name exists.
"""

import base64
import bisect
import hashlib
import threading
import time
from dataclasses import dataclass, field, replace

from . import crc32c, errors

# Metadata fields a client may set, by their JSON API names.
WRITABLE_FIELDS = ("contentType", "contentEncoding", "contentDisposition",
                   "contentLanguage", "cacheControl", "customTime", "metadata")
STORAGE_CLASSES = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE",
                   "MULTI_REGIONAL", "REGIONAL", "DURABLE_REDUCED_AVAILABILITY")
MAX_COMPONENTS = 1024
MAX_NAME_BYTES = 1024


def now_us():
    return time.time_ns() // 1000


@dataclass(frozen=True)
class ObjectVersion:
    bucket: str
    name: str
    data: object                  # bytes-like, never mutated once stored
    generation: int
    metageneration: int
    crc32c: int
    md5: object                   # 16-byte digest, or None for composites
    meta: dict                    # WRITABLE_FIELDS that are set
    storage_class: str
    time_created: int             # microseconds since the epoch
    updated: int
    component_count: object = None
    # JSON resources rendered from this version, by server URL. A version never changes (an
    # update makes a new one), so neither do they; listings render many of them again and again.
    rendered: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def size(self):
        return len(self.data)

    @property
    def content_type(self):
        return self.meta.get("contentType") or "application/octet-stream"


@dataclass
class Bucket:
    name: str
    time_created: int
    objects: dict = field(default_factory=dict)
    names: list = field(default_factory=list)     # sorted keys of objects


@dataclass
class Preconditions:
    """if(Source)Generation(Not)Match / if(Source)Metageneration(Not)Match."""
    generation_match: object = None
    generation_not_match: object = None
    metageneration_match: object = None
    metageneration_not_match: object = None

    @classmethod
    def from_query(cls, request, source=False):
        base = "ifSource" if source else "if"
        return cls(request.int_param(base + "GenerationMatch"),
                   request.int_param(base + "GenerationNotMatch"),
                   request.int_param(base + "MetagenerationMatch"),
                   request.int_param(base + "MetagenerationNotMatch"))

    def any(self):
        return any(v is not None for v in (self.generation_match,
                                          self.generation_not_match,
                                          self.metageneration_match,
                                          self.metageneration_not_match))

    def check(self, live, read=False):
        """Raise 412 (or 304 for a failed NotMatch on a read) unless ``live`` passes.

        A missing object counts as generation 0 with no metageneration, so
        ifGenerationMatch=0 means "does not exist" and ifGenerationNotMatch=0
        means "exists".
        """
        generation = live.generation if live is not None else 0
        metageneration = live.metageneration if live is not None else None
        if self.generation_not_match is not None and generation == self.generation_not_match:
            raise errors.not_modified() if read else errors.precondition_failed()
        if self.generation_match is not None and generation != self.generation_match:
            raise errors.precondition_failed()
        if (self.metageneration_not_match is not None
                and metageneration == self.metageneration_not_match):
            raise errors.not_modified() if read else errors.precondition_failed()
        if (self.metageneration_match is not None
                and metageneration != self.metageneration_match):
            raise errors.precondition_failed()


NO_PRECONDITIONS = Preconditions()


# --- metadata helpers ----------------------------------------------------------

def _check_metadata_map(value):
    if not isinstance(value, dict):
        raise errors.invalid("Invalid value for metadata: expected an object.")
    for key, item in value.items():
        if item is not None and not isinstance(item, (str, int, float, bool)):
            raise errors.invalid("Invalid value for metadata key %s." % key)


def _as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def meta_from_json(resource):
    """Writable metadata from a full object resource (insert, update, copy)."""
    meta = {}
    for key in WRITABLE_FIELDS:
        value = (resource or {}).get(key)
        if value is None:
            continue
        if key == "metadata":
            _check_metadata_map(value)
            custom = {k: _as_text(v) for k, v in value.items() if v is not None}
            if custom:
                meta[key] = custom
        else:
            meta[key] = _as_text(value)
    return meta


def meta_patch(current, patch):
    """Apply a JSON patch: null removes a field; metadata keys merge, null deletes."""
    meta = dict(current)
    for key in WRITABLE_FIELDS:
        if key not in patch:
            continue
        value = patch[key]
        if value is None:
            meta.pop(key, None)
        elif key == "metadata":
            _check_metadata_map(value)
            custom = dict(meta.get("metadata", {}))
            for mkey, mval in value.items():
                if mval is None:
                    custom.pop(mkey, None)
                else:
                    custom[mkey] = _as_text(mval)
            if custom:
                meta["metadata"] = custom
            else:
                meta.pop("metadata", None)
        else:
            meta[key] = _as_text(value)
    return meta


def storage_class_from(resource, default="STANDARD"):
    value = (resource or {}).get("storageClass") or default
    value = str(value).upper()
    if value not in STORAGE_CLASSES:
        raise errors.invalid("Invalid storage class: %s" % value)
    return value


def check_object_name(name):
    if not name:
        raise errors.required("Required parameter: object name.")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise errors.invalid("The maximum object length is %d characters." % MAX_NAME_BYTES)
    if "\r" in name or "\n" in name or name in (".", ".."):
        raise errors.invalid("Invalid object name: %r" % name)
    if name.startswith(".well-known/acme-challenge/"):
        raise errors.invalid("Invalid object name: %r" % name)


@dataclass(frozen=True)
class Payload:
    """Object bytes plus their checksums, computed once when they arrive."""
    data: object
    crc32c: int
    md5: object

    @classmethod
    def of(cls, data):
        return cls(data, crc32c.crc32c(data), hashlib.md5(data).digest())


def verify_checksums(payload, md5_b64=None, crc_b64=None):
    """Compare client-supplied checksums with the received bytes (400 on mismatch)."""
    if md5_b64:
        actual = base64.b64encode(payload.md5).decode()
        if actual != md5_b64:
            raise errors.GcsError(
                400, "invalid",
                "Provided MD5 hash \"%s\" doesn't match calculated MD5 hash \"%s\"." % (md5_b64, actual),
                xml_code="BadDigest",
                xml_message="The MD5 you specified did not match what we received.")
    if crc_b64:
        actual = crc32c.to_base64(payload.crc32c)
        if actual != crc_b64:
            raise errors.GcsError(
                400, "invalid",
                "Provided CRC32C \"%s\" doesn't match calculated CRC32C \"%s\"." % (crc_b64, actual),
                xml_code="BadDigest",
                xml_message="The CRC32C you specified did not match what we received.")


# --- list page tokens --------------------------------------------------------

def encode_token(resume_key):
    return base64.urlsafe_b64encode(b"k:" + resume_key.encode("utf-8")).decode("ascii")


def decode_token(token):
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        if not raw.startswith(b"k:"):
            raise ValueError
        return raw[2:].decode("utf-8")
    except (ValueError, UnicodeError):
        raise errors.invalid("Invalid page token: %s" % token)


def _after_prefix(prefix):
    """The smallest string that sorts after every string starting with prefix."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix + "\U0010FFFF"
    return prefix[:-1] + chr(last + 1)


@dataclass
class ListPage:
    items: list
    prefixes: list
    next_token: object


# --- the store -------------------------------------------------------------------

class Store:
    def __init__(self):
        self._lock = threading.Lock()
        self._buckets = {}
        self._last_generation = 0

    # buckets

    def reset(self, bucket_names=()):
        with self._lock:
            self._buckets = {}
            for name in bucket_names:
                self._buckets[name] = Bucket(name, now_us())

    def create_bucket(self, name):
        with self._lock:
            if name in self._buckets:
                raise errors.conflict("Your previous request to create the named bucket "
                                      "succeeded and you already own it.")
            bucket = Bucket(name, now_us())
            self._buckets[name] = bucket
            return bucket

    def ensure_bucket(self, name):
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = self._buckets[name] = Bucket(name, now_us())
            return bucket

    def get_bucket(self, name):
        with self._lock:
            return self._bucket(name)

    def list_buckets(self):
        with self._lock:
            return [self._buckets[n] for n in sorted(self._buckets)]

    def delete_bucket(self, name):
        with self._lock:
            bucket = self._bucket(name)
            if bucket.objects:
                raise errors.GcsError(409, "conflict", "The bucket you tried to delete is not empty.",
                                      xml_code="BucketNotEmpty")
            del self._buckets[name]

    def _bucket(self, name):
        bucket = self._buckets.get(name)
        if bucket is None:
            raise errors.no_such_bucket(name)
        return bucket

    def _next_generation(self):
        generation = max(now_us(), self._last_generation + 1)
        self._last_generation = generation
        return generation

    # objects

    def _live(self, bucket, name, generation=None):
        obj = bucket.objects.get(name)
        if obj is None or (generation is not None and obj.generation != generation):
            raise errors.no_such_object(bucket.name, name)
        return obj

    def get_object(self, bucket_name, name, generation=None, pre=NO_PRECONDITIONS, read=True):
        with self._lock:
            obj = self._live(self._bucket(bucket_name), name, generation)
            pre.check(obj, read=read)
            return obj

    def _put(self, bucket, name, payload, meta, storage_class, component_count=None,
             time_created=None):
        generation = self._next_generation()
        stamp = now_us()
        obj = ObjectVersion(bucket=bucket.name, name=name, data=payload.data,
                            generation=generation, metageneration=1,
                            crc32c=payload.crc32c, md5=payload.md5, meta=meta,
                            storage_class=storage_class, time_created=stamp,
                            updated=stamp, component_count=component_count)
        if name not in bucket.objects:
            bisect.insort(bucket.names, name)
        bucket.objects[name] = obj
        return obj

    def _remove(self, bucket, name):
        del bucket.objects[name]
        index = bisect.bisect_left(bucket.names, name)
        del bucket.names[index]

    def insert_object(self, bucket_name, name, payload, meta, storage_class="STANDARD",
                      pre=NO_PRECONDITIONS):
        check_object_name(name)
        with self._lock:
            bucket = self._bucket(bucket_name)
            pre.check(bucket.objects.get(name))
            return self._put(bucket, name, payload, meta, storage_class)

    def update_metadata(self, bucket_name, name, generation, pre, change):
        """Patch/update: ``change(obj)`` returns the new meta dict."""
        with self._lock:
            bucket = self._bucket(bucket_name)
            obj = self._live(bucket, name, generation)
            pre.check(obj)
            new = replace(obj, meta=change(obj), metageneration=obj.metageneration + 1,
                          updated=max(now_us(), obj.updated + 1))
            bucket.objects[name] = new
            return new

    def delete_object(self, bucket_name, name, generation=None, pre=NO_PRECONDITIONS):
        with self._lock:
            bucket = self._bucket(bucket_name)
            obj = self._live(bucket, name, generation)
            pre.check(obj)
            self._remove(bucket, name)
            return obj

    def compose(self, bucket_name, name, sources, meta, storage_class, pre):
        """sources: list of (name, generation or None, ifGenerationMatch or None)."""
        check_object_name(name)
        with self._lock:
            bucket = self._bucket(bucket_name)
            parts = []
            for src_name, src_generation, src_match in sources:
                obj = self._live(bucket, src_name, src_generation)
                if src_match is not None and obj.generation != src_match:
                    raise errors.precondition_failed()
                parts.append(obj)
            components = sum(p.component_count or 1 for p in parts)
            if components > MAX_COMPONENTS:
                raise errors.invalid("The number of components in the composite object "
                                     "would exceed %d." % MAX_COMPONENTS)
            pre.check(bucket.objects.get(name))
            crc = 0
            for part in parts:
                crc = crc32c.combine(crc, part.crc32c, part.size)
            data = b"".join(part.data for part in parts)
            return self._put(bucket, name, Payload(data, crc, None), meta,
                             storage_class, component_count=components)

    def copy(self, src_bucket, src_name, src_generation, src_pre,
             dst_bucket, dst_name, override, dst_pre):
        """Copy/rewrite: ``override`` is a JSON resource applied over the source metadata."""
        check_object_name(dst_name)
        with self._lock:
            source = self._live(self._bucket(src_bucket), src_name, src_generation)
            src_pre.check(source)
            target = self._bucket(dst_bucket)
            dst_pre.check(target.objects.get(dst_name))
            meta = meta_patch(source.meta, override) if override else dict(source.meta)
            storage_class = storage_class_from(override, source.storage_class)
            payload = Payload(source.data, source.crc32c, source.md5)
            return self._put(target, dst_name, payload, meta, storage_class,
                             component_count=source.component_count)

    def move(self, bucket_name, src_name, dst_name, src_pre, dst_pre):
        check_object_name(dst_name)
        if src_name == dst_name:
            raise errors.invalid("Source and destination object names must be different.")
        with self._lock:
            bucket = self._bucket(bucket_name)
            source = self._live(bucket, src_name)
            src_pre.check(source)
            dst_pre.check(bucket.objects.get(dst_name))
            payload = Payload(source.data, source.crc32c, source.md5)
            moved = self._put(bucket, dst_name, payload, dict(source.meta),
                              source.storage_class, component_count=source.component_count)
            self._remove(bucket, src_name)
            return moved

    def list_objects(self, bucket_name, prefix="", delimiter="", start_offset="",
                     end_offset="", page_token=None, max_results=1000,
                     include_trailing_delimiter=False):
        """One page of objects.list: items and prefixes in name order.

        ``max_results`` counts items and prefixes together.  The page token is
        the smallest name the next page may start at.
        """
        resume = decode_token(page_token) if page_token else ""
        with self._lock:
            bucket = self._bucket(bucket_name)
            names = bucket.names
            start = max(prefix, start_offset or "", resume)
            index = bisect.bisect_left(names, start)
            items, prefixes = [], []
            count = 0
            next_key = None
            while index < len(names):
                name = names[index]
                if not name.startswith(prefix):
                    break
                if end_offset and name >= end_offset:
                    break
                if count >= max_results:
                    next_key = resume
                    break
                if delimiter:
                    cut = name.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = name[:cut + len(delimiter)]
                        prefixes.append(common)
                        count += 1
                        if include_trailing_delimiter and len(common) == len(name):
                            items.append(bucket.objects[name])
                            count += 1
                        resume = _after_prefix(common)
                        index = bisect.bisect_left(names, resume, index + 1)
                        continue
                items.append(bucket.objects[name])
                count += 1
                resume = name + "\x00"
                index += 1
            token = encode_token(next_key) if next_key is not None else None
            return ListPage(items, prefixes, token)
