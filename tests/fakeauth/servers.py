"""A fake OAuth token endpoint and a fake Compute Engine metadata server.

Both are HTTP/1.1 servers on 127.0.0.1 running in threads of the test process.  The port is
bound when the object is made, but connections are refused until start() (optionally after
a delay), which is how a metadata server that is not up yet at boot looks to a client.

TokenEndpoint checks what Google's token endpoint checks:
  - the JWT-bearer grant: an RS256 signature by the registered key of the issuer (verified
    with rsa.py against the public key only), the kid, iss, a non-empty scope, aud equal to
    this endpoint's URL, iat not in the future, exp after now and at most an hour after iat;
  - the refresh-token grant: client_id, client_secret and a refresh_token that belongs to
    that client and was not revoked.
Failures answer as Google does: 400 {"error": "invalid_grant", ...}, 401 invalid_client.

MetadataServer refuses requests without "Metadata-Flavor: Google" (and any that carry
X-Forwarded-For) with 403, and answers with that header; it serves the default service
account's token (cached and counting down, as the real one does), e-mail and scopes.

Every issued token is registered with the fake GCS server (FakeGCS.add_token) for exactly
its lifetime, so GCS accepts it until then.  Tests read what happened from the attributes:
grants, issued, assertions, requests, max_concurrent.
"""

import http.server
import json
import secrets
import socketserver
import ssl
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from . import rsa

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOCK_SKEW_S = 60
MAX_ASSERTION_LIFETIME_S = 3600


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeauth/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, status, body, content_type, headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        body = self._body()
        fake = self.server.fake
        with fake.lock:
            fake.active += 1
            fake.max_concurrent = max(fake.max_concurrent, fake.active)
        try:
            if fake.delay:
                time.sleep(fake.delay)
            status, payload, content_type, headers = fake.handle(method, self.path,
                                                                 self.headers, body)
        finally:
            with fake.lock:
                fake.active -= 1
        self._answer(status, payload, content_type, headers)


class _Server:
    scheme = "http"

    def __init__(self, gcs=None, tls=None):
        self.gcs = gcs
        self.lock = threading.Lock()
        self.delay = 0.0
        self.active = 0
        self.max_concurrent = 0
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler,
                                                      bind_and_activate=False)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        socketserver.TCPServer.server_bind(self._httpd)
        if tls is not None:
            cert, key = tls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self._httpd.server_address[1]
        self.host = "127.0.0.1:%d" % self.port
        self._thread = None
        self._timer = None

    def start(self, delay=0.0):
        """Accept connections now, or after delay seconds (refused until then)."""
        if delay:
            self._timer = threading.Timer(delay, self._listen)
            self._timer.daemon = True
            self._timer.start()
        else:
            self._listen()
        return self

    def _listen(self):
        self._httpd.server_activate()
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def stop(self):
        if self._timer is not None:
            self._timer.cancel()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def _register(self, token, identity, lifetime, scopes):
        if self.gcs is not None:
            self.gcs.add_token(token, identity, lifetime, scopes)

    @staticmethod
    def new_token():
        return "ya29.fake-" + secrets.token_urlsafe(32)


def _json(status, value):
    return status, json.dumps(value), "application/json; charset=utf-8", ()


def _oauth_error(status, error, description):
    return _json(status, {"error": error, "error_description": description})


class TokenEndpoint(_Server):
    """POST /token: the JWT-bearer and refresh-token grants."""

    def __init__(self, gcs=None, lifetime=3599, tls=None, expires_in_as_string=False):
        super().__init__(gcs, tls)
        self.url = "%s://127.0.0.1:%d/token" % (self.scheme, self.port)
        self.lifetime = lifetime
        self.expires_in_as_string = expires_in_as_string
        self.service_accounts = {}   # email -> {"kid", "key": (n, e)}
        self.clients = {}            # client_id -> client_secret
        self.users = {}              # refresh_token -> {"client_id", "identity"}
        self.grants = []             # {"grant", "identity", "ok", "error", "scopes"}
        self.issued = []             # every access token handed out
        self.assertions = []         # every JWT received

    def add_service_account(self, email, kid, public_pem):
        self.service_accounts[email] = {"kid": kid, "key": rsa.public_key_from_pem(public_pem)}

    def add_user(self, refresh_token, client_id, client_secret, identity):
        self.clients[client_id] = client_secret
        self.users[refresh_token] = {"client_id": client_id, "identity": identity}

    def revoke_user(self, refresh_token):
        self.users.pop(refresh_token, None)

    def handle(self, method, path, headers, body):
        if method != "POST" or urlsplit(path).path != "/token":
            return 404, "Not Found", "text/plain", ()
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "Bad Request")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type")
        if grant == JWT_GRANT:
            identity, scopes, error = self._check_assertion(form.get("assertion", ""))
        elif grant == "refresh_token":
            identity, scopes, error = self._check_refresh(form)
        else:
            error = _oauth_error(400, "unsupported_grant_type",
                                 "Invalid grant_type: %s" % grant)
            identity = scopes = None
        record = {"grant": grant, "identity": identity, "ok": error is None, "scopes": scopes,
                  "error": None if error is None else json.loads(error[1])["error"]}
        with self.lock:
            self.grants.append(record)
        if error is not None:
            return error
        token = self.new_token()
        with self.lock:
            self.issued.append(token)
        self._register(token, identity, self.lifetime, scopes)
        expires = str(self.lifetime) if self.expires_in_as_string else self.lifetime
        answer = {"access_token": token, "expires_in": expires, "token_type": "Bearer"}
        if scopes:
            answer["scope"] = " ".join(scopes)
        return _json(200, answer)

    def _check_assertion(self, assertion):
        """(identity, scopes, None) for a good assertion, else (None, None, error)."""
        with self.lock:
            self.assertions.append(assertion)

        def bad(description, error="invalid_grant"):
            return None, None, _oauth_error(400, error, description)

        parts = assertion.split(".")
        if len(parts) != 3:
            return bad("Invalid JWT: not three parts")
        try:
            header = json.loads(rsa.b64url_decode(parts[0]))
            claims = json.loads(rsa.b64url_decode(parts[1]))
            signature = rsa.b64url_decode(parts[2])
        except ValueError:
            return bad("Invalid JWT: not base64url-encoded JSON")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return bad("Invalid JWT: not JSON objects")
        if header.get("alg") != "RS256":
            return bad("Invalid JWT: alg must be RS256")
        account = self.service_accounts.get(claims.get("iss"))
        if account is None:
            return bad("Invalid grant: account not found")
        if header.get("kid") not in (None, account["kid"]):
            return bad("Invalid JWT Signature.")
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        if not rsa.verify_rs256(account["key"], signed, signature):
            return bad("Invalid JWT Signature.")
        if claims.get("aud") != self.url:
            return bad("Invalid JWT: Failed audience check. The right audience is %s"
                       % self.url)
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or \
                iat > now + CLOCK_SKEW_S or exp <= now or exp - iat > MAX_ASSERTION_LIFETIME_S:
            return bad("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                       "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            return bad("Empty or missing scope not allowed.", "invalid_scope")
        return claims["iss"], scope.split(), None

    def _check_refresh(self, form):
        user = self.users.get(form.get("refresh_token", ""))
        client_id = form.get("client_id", "")
        if client_id not in self.clients:
            return None, None, _oauth_error(401, "invalid_client",
                                            "The OAuth client was not found.")
        if not secrets.compare_digest(form.get("client_secret", ""), self.clients[client_id]):
            return None, None, _oauth_error(401, "invalid_client", "Unauthorized")
        if user is None or user["client_id"] != client_id:
            return None, None, _oauth_error(400, "invalid_grant",
                                            "Token has been expired or revoked.")
        return user["identity"], None, None


class MetadataServer(_Server):
    """The parts of http://metadata.google.internal/computeMetadata/v1/ that credentials use."""

    DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

    def __init__(self, gcs=None, email="1234567890-compute@developer.gserviceaccount.com",
                 scopes=DEFAULT_SCOPES, lifetime=3599):
        super().__init__(gcs)
        self.email = email
        self.scopes = list(scopes)
        self.lifetime = lifetime
        self.requests = []           # (path, had Metadata-Flavor: Google)
        self.issued = []
        self._token = None           # (token, expiry on time.monotonic())

    def handle(self, method, path, headers, body):
        flavor = headers.get("Metadata-Flavor") == "Google"
        with self.lock:
            self.requests.append((path, flavor))
        if not flavor or headers.get("X-Forwarded-For"):
            return 403, "Missing required header: Metadata-Flavor\n", "text/plain", ()
        parts = urlsplit(path)
        query = dict(parse_qsl(parts.query))
        base = "/computeMetadata/v1/instance/service-accounts/"
        if method != "GET" or not parts.path.startswith(base):
            return self._text(404, "Not Found\n") if parts.path != "/" else \
                self._text(200, "computeMetadata/\n")
        rest = parts.path[len(base):]
        account, _, what = rest.partition("/")
        if account not in ("default", self.email):
            return self._text(404, "Not Found\n")
        if what == "token":
            token, remaining = self._current_token()
            return self._flavored(_json(200, {"access_token": token, "expires_in": remaining,
                                              "token_type": "Bearer"}))
        if what == "email":
            return self._text(200, self.email)
        if what == "scopes":
            return self._text(200, "".join(s + "\n" for s in self.scopes))
        if what == "" and query.get("recursive") == "true":
            return self._flavored(_json(200, {"email": self.email, "scopes": self.scopes,
                                              "aliases": ["default"]}))
        return self._text(404, "Not Found\n")

    def _current_token(self):
        """The cached token while more than half its life (at most 5 minutes) is left."""
        now = time.monotonic()
        with self.lock:
            keep = min(300.0, self.lifetime / 2.0)
            if self._token is None or self._token[1] - now <= keep:
                token = self.new_token()
                self._token = (token, now + self.lifetime)
                self.issued.append(token)
                self._register(token, self.email, self.lifetime, self.scopes)
            token, expiry = self._token
        return token, max(1, int(expiry - now))

    @staticmethod
    def _flavored(answer):
        status, payload, ctype, headers = answer
        return status, payload, ctype, tuple(headers) + (("Metadata-Flavor", "Google"),)

    def _text(self, status, text):
        return self._flavored((status, text, "application/text", ()))
