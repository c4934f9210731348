"""Protocol checks of the credential fakes (tests/fakeauth) and of the test server's
auth-required mode, with raw HTTP and an independent signer (the openssl command).

test_credentials.py trusts these fakes to refuse what Google's services refuse, so that a
mount they accept would be accepted by the real ones; these tests pin that down.
"""

import base64
import http.client
import json
import subprocess
import time
from urllib.parse import urlencode, urlsplit

import pytest

from tests.fakeauth import keys
from tests.fakeauth.servers import JWT_GRANT, MetadataServer, TokenEndpoint

BUCKET = "test-bucket"
SA = "checker@test-project.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


@pytest.fixture(scope="module")
def key_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    private, public = keys.rsa_key(d, "sa")
    return {"private": private, "public": public, "private_path": str(d / "sa.pem")}


@pytest.fixture
def endpoint(fakegcs, key_files):
    ep = TokenEndpoint(fakegcs).start()
    ep.add_service_account(SA, "kid-1", key_files["public"])
    ep.add_user("1//refresh", "client-1", "secret-1", "ada@example.com")
    yield ep
    ep.stop()


@pytest.fixture
def mds(fakegcs):
    md = MetadataServer(fakegcs, lifetime=600).start()
    yield md
    md.stop()


def request(url, method="GET", body=None, headers=None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl_jwt(key_path, header, claims):
    """A JWT signed by the openssl command, not by anything gcsmount or the fake use."""
    signed = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path],
                         input=signed.encode(), capture_output=True, check=True).stdout
    return signed + "." + b64(sig)


def good_claims(endpoint, **changes):
    now = int(time.time())
    claims = {"iss": SA, "scope": SCOPE, "aud": endpoint.url, "iat": now, "exp": now + 3600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def grant(endpoint, form, content_type="application/x-www-form-urlencoded"):
    status, _, body = request(endpoint.url, "POST", urlencode(form),
                              {"Content-Type": content_type})
    return status, json.loads(body)


def jwt_grant(endpoint, assertion):
    return grant(endpoint, {"grant_type": JWT_GRANT, "assertion": assertion})


def test_token_endpoint_accepts_an_assertion_signed_by_openssl(fakegcs, endpoint, key_files):
    fakegcs.require_auth()
    jwt = openssl_jwt(key_files["private_path"], {"alg": "RS256", "typ": "JWT", "kid": "kid-1"},
                      good_claims(endpoint))
    status, answer = jwt_grant(endpoint, jwt)
    assert status == 200, answer
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == endpoint.lifetime
    status, _, _ = request(fakegcs.url + "/storage/v1/b/" + BUCKET,
                           headers={"Authorization": "Bearer " + answer["access_token"]})
    assert status == 200


@pytest.mark.parametrize("case,error", [
    ("tampered", "invalid_grant"),
    ("wrong-aud", "invalid_grant"),
    ("expired", "invalid_grant"),
    ("iat-in-future", "invalid_grant"),
    ("longer-than-an-hour", "invalid_grant"),
    ("no-scope", "invalid_scope"),
    ("unknown-issuer", "invalid_grant"),
    ("wrong-kid", "invalid_grant"),
    ("alg-none", "invalid_grant"),
])
def test_token_endpoint_refuses_what_google_refuses(endpoint, key_files, case, error):
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    claims = {
        "wrong-aud": good_claims(endpoint, aud="https://oauth2.googleapis.com/token"),
        "expired": good_claims(endpoint, iat=now - 7200, exp=now - 3600),
        "iat-in-future": good_claims(endpoint, iat=now + 600, exp=now + 1200),
        "longer-than-an-hour": good_claims(endpoint, exp=now + 3601),
        "no-scope": good_claims(endpoint, scope=None),
        "unknown-issuer": good_claims(endpoint, iss="stranger@x.iam.gserviceaccount.com"),
    }.get(case, good_claims(endpoint))
    if case == "wrong-kid":
        header["kid"] = "kid-2"
    if case == "alg-none":
        header["alg"] = "none"
    jwt = openssl_jwt(key_files["private_path"], header, claims)
    if case == "tampered":
        head, _, sig = jwt.split(".")
        jwt = ".".join([head, b64(json.dumps(good_claims(endpoint, iss=SA, scope=SCOPE + " x"))
                                  .encode()), sig])
    status, answer = jwt_grant(endpoint, jwt)
    assert (status, answer["error"]) == (400, error)
    assert not endpoint.issued


def test_refresh_grant_checks_client_secret_and_refresh_token(endpoint):
    form = {"grant_type": "refresh_token", "client_id": "client-1", "client_secret": "secret-1",
            "refresh_token": "1//refresh"}
    status, answer = grant(endpoint, form)
    assert status == 200 and answer["access_token"] in endpoint.issued
    assert grant(endpoint, dict(form, client_secret="nope")) == \
        (401, {"error": "invalid_client", "error_description": "Unauthorized"})
    assert grant(endpoint, dict(form, client_id="client-2"))[1]["error"] == "invalid_client"
    assert grant(endpoint, dict(form, refresh_token="1//other")) == \
        (400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    assert grant(endpoint, form, content_type="application/json")[0] == 400
    assert grant(endpoint, dict(form, grant_type="password"))[1]["error"] == \
        "unsupported_grant_type"


def test_metadata_server_requires_the_flavor_header(mds):
    base = "http://%s/computeMetadata/v1/instance/service-accounts/default/" % mds.host
    status, headers, _ = request(base + "token")
    assert status == 403 and not mds.issued
    status, _, _ = request(base + "token", headers={"Metadata-Flavor": "Google",
                                                    "X-Forwarded-For": "10.0.0.1"})
    assert status == 403
    flavor = {"Metadata-Flavor": "Google"}
    status, headers, body = request(base + "token", headers=flavor)
    assert status == 200 and headers["Metadata-Flavor"] == "Google"
    token = json.loads(body)
    assert token["token_type"] == "Bearer" and 0 < token["expires_in"] <= 600
    assert request(base + "email", headers=flavor)[2].decode() == mds.email
    assert request(base + "scopes", headers=flavor)[2].decode().split() == mds.scopes
    info = json.loads(request(base + "?recursive=true", headers=flavor)[2])
    assert info["email"] == mds.email and info["scopes"] == mds.scopes
    # Like the real server, it hands out its cached token again.
    again = json.loads(request(base + "token", headers=flavor)[2])
    assert again["access_token"] == token["access_token"]
    assert again["expires_in"] <= token["expires_in"]


def _api(fakegcs, path, token=None, method="GET", body=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    status, hdrs, data = request(fakegcs.url + path, method, body, headers)
    return status, hdrs, data


def test_auth_mode_answers_401_like_gcs(fakegcs):
    fakegcs.put(BUCKET, "a.txt", b"a")
    fakegcs.require_auth()
    status, headers, body = _api(fakegcs, "/storage/v1/b/%s" % BUCKET)
    error = json.loads(body)["error"]
    assert status == 401 and error["errors"][0]["reason"] == "required"
    assert error["message"] == (
        "Anonymous caller does not have storage.buckets.get access to the Google Cloud "
        "Storage bucket. Permission 'storage.buckets.get' denied on resource (or it may not "
        "exist).")
    status, _, body = _api(fakegcs, "/%s/a.txt" % BUCKET)
    assert status == 401 and b"<Code>AccessDenied</Code>" in body
    assert b"storage.objects.get access to the Google Cloud Storage object" in body
    status, headers, body = _api(fakegcs, "/storage/v1/b/%s" % BUCKET, token="made-up")
    assert status == 401 and json.loads(body)["error"]["message"] == "Invalid Credentials"
    assert "invalid_token" in headers["WWW-Authenticate"]

    fakegcs.add_token("short", "sa@x", 0.3)
    assert _api(fakegcs, "/%s/a.txt" % BUCKET, token="short")[0] == 200
    time.sleep(0.5)
    assert _api(fakegcs, "/%s/a.txt" % BUCKET, token="short")[0] == 401
    fakegcs.add_token("long", "sa@x", 600)
    assert fakegcs.revoke_token("long")
    assert _api(fakegcs, "/%s/a.txt" % BUCKET, token="long")[0] == 401
    assert [e["status"] for e in fakegcs.log()][-1] == 401


def test_auth_mode_answers_403_naming_identity_permission_and_scope(fakegcs):
    fakegcs.put(BUCKET, "a.txt", b"a")
    fakegcs.require_auth()
    fakegcs.add_token("t1", "sa@x.iam.gserviceaccount.com", 600)
    fakegcs.deny("sa@x.iam.gserviceaccount.com", BUCKET, ["storage.buckets.get"])
    status, _, body = _api(fakegcs, "/storage/v1/b/%s" % BUCKET, token="t1")
    assert status == 403 and json.loads(body)["error"]["message"] == (
        "sa@x.iam.gserviceaccount.com does not have storage.buckets.get access to the Google "
        "Cloud Storage bucket. Permission 'storage.buckets.get' denied on resource (or it may "
        "not exist).")
    assert _api(fakegcs, "/storage/v1/b/%s/o?maxResults=1" % BUCKET, token="t1")[0] == 200
    assert fakegcs.log()[-1]["identity"] == "sa@x.iam.gserviceaccount.com"

    fakegcs.add_token("ro", "vm@x", 600, scopes=[
        "https://www.googleapis.com/auth/devstorage.read_only"])
    assert _api(fakegcs, "/%s/a.txt" % BUCKET, token="ro")[0] == 200
    status, _, body = _api(fakegcs, "/upload/storage/v1/b/%s/o?uploadType=media&name=b" % BUCKET,
                           token="ro", method="POST", body=b"b")
    assert status == 403
    assert json.loads(body)["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_public_bucket_lets_anonymous_callers_list_and_read_only(fakegcs):
    fakegcs.put(BUCKET, "a.txt", b"a")
    fakegcs.require_auth(public_buckets=[BUCKET])
    assert _api(fakegcs, "/storage/v1/b/%s/o" % BUCKET)[0] == 200
    assert _api(fakegcs, "/%s/a.txt" % BUCKET)[0] == 200
    assert _api(fakegcs, "/storage/v1/b/%s" % BUCKET)[0] == 401
    assert _api(fakegcs, "/storage/v1/b/%s/o/a.txt" % BUCKET, method="DELETE")[0] == 401
    fakegcs.reset()
    assert _api(fakegcs, "/storage/v1/b/%s" % BUCKET)[0] == 200
