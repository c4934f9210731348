"""Access control: off by default; when a test turns it on, requests are checked the way GCS
checks them.

With auth required, a request must carry "Authorization: Bearer TOKEN" with a token that a
test registered (a fake token endpoint or metadata server does that when it issues one),
that has not expired and was not revoked; else the answer is 401, as from GCS: "Anonymous
caller does not have ..." without a token, "Invalid Credentials" with a bad one.  A token
registered with scopes must carry one that allows the request (devstorage.read_only allows
reads only), else 403 "insufficient authentication scopes".  An identity can be denied a
bucket (all permissions or some), which answers 403 naming the identity and the missing
permission in GCS's words.  Public buckets give anonymous callers what allUsers gets as
object viewer on GCS: storage.objects.get and storage.objects.list, not storage.buckets.get.
"""

import threading
import time

from .errors import GcsError

# The IAM permission each operation needs, and whether it acts on the bucket or an object.
PERMISSIONS = {
    "buckets.get": ("storage.buckets.get", "bucket"),
    "buckets.list": ("storage.buckets.list", "project"),
    "buckets.insert": ("storage.buckets.create", "project"),
    "buckets.delete": ("storage.buckets.delete", "bucket"),
    "objects.list": ("storage.objects.list", "bucket"),
    "xml.list": ("storage.objects.list", "bucket"),
    "xml.headbucket": ("storage.buckets.get", "bucket"),
    "objects.get": ("storage.objects.get", "object"),
    "objects.media": ("storage.objects.get", "object"),
    "xml.get": ("storage.objects.get", "object"),
    "xml.head": ("storage.objects.get", "object"),
    "objects.delete": ("storage.objects.delete", "object"),
    "xml.delete": ("storage.objects.delete", "object"),
    "objects.patch": ("storage.objects.update", "object"),
    "objects.update": ("storage.objects.update", "object"),
}
PUBLIC_PERMISSIONS = {"storage.objects.get", "storage.objects.list"}

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
READ_SCOPES = {"devstorage.read_only", "cloud-platform.read-only"}
WRITE_SCOPES = {"devstorage.read_write", "devstorage.full_control", "cloud-platform"}


def _permission(op):
    return PERMISSIONS.get(op, ("storage.objects.create", "object"))


def _denied_text(who, permission, kind):
    return ("%s does not have %s access to the Google Cloud Storage %s. Permission '%s' "
            "denied on resource (or it may not exist)." % (who, permission, kind, permission))


def anonymous_denied(permission, kind):
    text = _denied_text("Anonymous caller", permission, kind)
    return GcsError(401, "required", text, xml_code="AccessDenied", xml_message="Access denied.",
                    details=text, location="Authorization",
                    headers=[("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')])


def invalid_credentials():
    return GcsError(401, "authError", "Invalid Credentials", xml_code="AuthenticationRequired",
                    xml_message="Authentication required.", location="Authorization",
                    headers=[("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/", '
                              'error="invalid_token"')])


def identity_denied(identity, permission, kind):
    text = _denied_text(identity, permission, kind)
    return GcsError(403, "forbidden", text, xml_code="AccessDenied", xml_message="Access denied.",
                    details=text)


def insufficient_scopes():
    text = "Request had insufficient authentication scopes."
    return GcsError(403, "insufficientPermissions", text, xml_code="AccessDenied",
                    xml_message="Access denied.", details=text)


class AuthRules:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.required = False
            self.public = set()
            self._tokens = {}      # token -> (identity, expiry on time.monotonic(), scopes)
            self._denied = {}      # (identity, bucket) -> set of permissions, or None: all

    def configure(self, required=True, public_buckets=()):
        with self._lock:
            self.required = bool(required)
            self.public = set(public_buckets)

    def add_token(self, token, identity, expires_in, scopes=None):
        with self._lock:
            self._tokens[token] = (identity, time.monotonic() + float(expires_in),
                                   None if scopes is None else set(scopes))

    def revoke(self, token):
        with self._lock:
            return self._tokens.pop(token, None) is not None

    def deny(self, identity, bucket, permissions=None):
        with self._lock:
            self._denied[(identity, bucket)] = None if permissions is None else set(permissions)

    def check(self, route, method, headers):
        """Returns (identity or None, GcsError or None) for one API request."""
        header = headers.get("Authorization") or ""
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        with self._lock:
            if not self.required:
                entry = self._tokens.get(token) if token else None
                return (entry[0] if entry else None), None
            permission, kind = _permission(route.op)
            if token is None:
                if route.bucket in self.public and permission in PUBLIC_PERMISSIONS:
                    return None, None
                return None, anonymous_denied(permission, kind)
            entry = self._tokens.get(token)
            if entry is None or time.monotonic() >= entry[1]:
                return None, invalid_credentials()
            identity, _, scopes = entry
            if scopes is not None:
                names = {s[len(SCOPE_PREFIX):] if s.startswith(SCOPE_PREFIX) else s
                         for s in scopes}
                allowed = names & WRITE_SCOPES or (method in ("GET", "HEAD") and
                                                   names & READ_SCOPES)
                if not allowed:
                    return identity, insufficient_scopes()
            denied = self._denied.get((identity, route.bucket), False)
            if denied is None or (denied and permission in denied):
                return identity, identity_denied(identity, permission, kind)
            return identity, None
