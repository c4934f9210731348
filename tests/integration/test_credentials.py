"""Credentials: every source gcsmount searches mounts a bucket of the test server in its
auth-required mode, every failure says what is wrong in words, and no secret reaches a log.

The token endpoint and metadata server are the fakes of tests/fakeauth, which check what
Google's services check and register the tokens they issue with the test server.  Every
mount here runs with a private HOME, no Google variables from the caller's environment and
NO_GCE_CHECK=true (unless the metadata server is the subject), so the real user's
credentials are never read and nothing is sent to a real metadata server.
"""

import errno
import hashlib
import os
import random
import subprocess
import threading
import time

import pytest

from mounting import Mount, is_mounted, unmount
from tests.fakeauth import keys
from tests.fakeauth.servers import MetadataServer, TokenEndpoint

BUCKET = "test-bucket"
PUBLIC_BUCKET = "public-bucket"
SA_EMAIL = "mounter@test-project.iam.gserviceaccount.com"
SA_KID = "0123456789abcdef0123456789abcdef01234567"
USER = "ada@example.com"
CLIENT_ID = "764086051850-fake.apps.googleusercontent.com"
CLIENT_SECRET = "d-FL95Q19q7MQmFpd7hHD0Ty"
REFRESH_TOKEN = "1//0fake-refresh-" + "x" * 40
READ_WRITE = "https://www.googleapis.com/auth/devstorage.read_write"
VM_DEFAULT_SCOPES = [
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring.write",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/trace.append",
]


# --- fixtures and helpers ----------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory):
    """The service account's key pair, and a second key that GCS knows nothing of."""
    d = tmp_path_factory.mktemp("keys")
    return {"sa": keys.rsa_key(d, "sa"), "other": keys.rsa_key(d, "other")}


@pytest.fixture
def gcs(fakegcs):
    """The test server, accepting only registered, unexpired tokens."""
    fakegcs.create_bucket(PUBLIC_BUCKET)
    fakegcs.require_auth(public_buckets=[PUBLIC_BUCKET])
    fakegcs.put(BUCKET, "hello.txt", b"hello, credentials\n")
    return fakegcs


@pytest.fixture
def token_endpoint(gcs, rsa_keys):
    ep = TokenEndpoint(gcs).start()
    ep.add_service_account(SA_EMAIL, SA_KID, rsa_keys["sa"][1])
    ep.add_user(REFRESH_TOKEN, CLIENT_ID, CLIENT_SECRET, USER)
    yield ep
    ep.stop()


@pytest.fixture
def metadata(gcs):
    servers = []

    def make(start=True, **kw):
        md = MetadataServer(gcs, **kw)
        servers.append(md)
        return md.start() if start else md

    yield make
    for md in servers:
        md.stop()


def hermetic_env(tmp_path, **extra):
    """No credentials from the caller's environment; HOME is a fresh directory."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "CLOUDSDK_CONFIG": None, "GOOGLE_APPLICATION_CREDENTIALS": None,
           "GCE_METADATA_HOST": None, "GCE_METADATA_ROOT": None, "NO_GCE_CHECK": "true",
           "STORAGE_EMULATOR_HOST": None}
    env.update(extra)
    return env


def sa_file(path, rsa_keys, token_endpoint, key="sa", mode=0o600):
    info = keys.service_account(SA_EMAIL, rsa_keys[key][0], SA_KID, token_endpoint.url)
    return keys.write(path, info, mode)


def user_file(path, token_endpoint, account=USER, mode=0o600):
    info = keys.authorized_user(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, token_endpoint.url,
                                account)
    return keys.write(path, info, mode)


def mount_fails(gcs, tmp_path, args=(), env=None, bucket=BUCKET, prefix=(), timeout=60):
    """Runs gcsmount, expects it to refuse, and returns what it printed."""
    m = Mount(gcs.url, bucket, tmp_path / "refused", tmp_path / "refused.log", args=args,
              env=env, foreground=False, anonymous=False)
    os.makedirs(m.path, exist_ok=True)
    res = subprocess.run(list(prefix) + m.command(), env=m.environment(), capture_output=True,
                         timeout=timeout)
    if is_mounted(m.path):
        unmount(m.path)
    assert res.returncode != 0, "gcsmount mounted although it should have refused"
    return res.stderr.decode(errors="replace")


def identities(gcs, op=None):
    return {e.get("identity") for e in gcs.log() if op is None or e["op"] == op}


def read(m, name):
    with open(m.p(name), "rb") as f:
        return f.read()


# --- every source mounts a bucket ----------------------------------------------------

@pytest.mark.parametrize("how", ["--key-file", "-o key_file="])
def test_service_account_key_file_mounts_a_private_bucket(gcs, mount, tmp_path, rsa_keys,
                                                          token_endpoint, how):
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint)
    args = ["--key-file", path] if how == "--key-file" else ["-o", "key_file=" + path]
    m = mount(args=args, env=hermetic_env(tmp_path), anonymous=False)
    assert read(m, "hello.txt") == b"hello, credentials\n"
    grants = [g for g in token_endpoint.grants if g["ok"]]
    assert grants and grants[0]["identity"] == SA_EMAIL
    assert grants[0]["scopes"] == [READ_WRITE]
    assert identities(gcs) == {SA_EMAIL}


def test_google_application_credentials_names_the_key_file(gcs, mount, tmp_path, rsa_keys,
                                                           token_endpoint):
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint)
    m = mount(env=hermetic_env(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=path), anonymous=False)
    assert read(m, "hello.txt") == b"hello, credentials\n"
    assert identities(gcs) == {SA_EMAIL}


@pytest.mark.parametrize("where", ["CLOUDSDK_CONFIG", "HOME"])
def test_gcloud_user_credentials_mount_with_the_refresh_token_grant(gcs, mount, tmp_path,
                                                                    token_endpoint, where):
    # Some servers send expires_in as a string; it must be understood all the same.
    token_endpoint.expires_in_as_string = True
    env = hermetic_env(tmp_path)
    if where == "CLOUDSDK_CONFIG":
        env["CLOUDSDK_CONFIG"] = str(tmp_path / "gcloud-config")
        user_file(tmp_path / "gcloud-config" / "application_default_credentials.json",
                  token_endpoint)
    else:
        user_file(tmp_path / "home" / ".config" / "gcloud" /
                  "application_default_credentials.json", token_endpoint)
    m = mount(env=env, anonymous=False)
    assert read(m, "hello.txt") == b"hello, credentials\n"
    assert [g["grant"] for g in token_endpoint.grants] == ["refresh_token"]
    assert identities(gcs) == {USER}
    assert f"as {USER}" in m.log()


def test_gcloud_application_default_file_may_hold_a_service_account_key(gcs, mount, tmp_path,
                                                                         rsa_keys,
                                                                         token_endpoint):
    sa_file(tmp_path / "gcloud" / "application_default_credentials.json", rsa_keys,
            token_endpoint)
    m = mount(env=hermetic_env(tmp_path, CLOUDSDK_CONFIG=str(tmp_path / "gcloud")),
              anonymous=False)
    assert read(m, "hello.txt") == b"hello, credentials\n"
    assert identities(gcs) == {SA_EMAIL}


def test_metadata_server_credentials_mount_a_bucket(gcs, mount, tmp_path, metadata):
    md = metadata()
    m = mount(env=hermetic_env(tmp_path, GCE_METADATA_HOST=md.host, NO_GCE_CHECK=None),
              anonymous=False)
    assert read(m, "hello.txt") == b"hello, credentials\n"
    assert identities(gcs) == {md.email}
    assert md.requests and all(flavor for _, flavor in md.requests)
    assert f"as {md.email}" in m.log()


def test_user_credentials_without_an_account_are_named_by_their_file(gcs, mount, tmp_path,
                                                                     token_endpoint):
    path = user_file(tmp_path / "creds" / "user.json", token_endpoint, account=None)
    m = mount(args=["--key-file", path], env=hermetic_env(tmp_path), anonymous=False)
    assert read(m, "hello.txt") == b"hello, credentials\n"
    assert f"as user credentials from {path}" in m.log()


def test_anonymous_mounts_a_public_bucket(gcs, mount, tmp_path):
    gcs.put(PUBLIC_BUCKET, "open/data.csv", b"a,b\n1,2\n")
    m = mount(bucket=PUBLIC_BUCKET, env=hermetic_env(tmp_path), anonymous=True)
    assert read(m, "open/data.csv") == b"a,b\n1,2\n"
    assert identities(gcs) == {None}
    # allUsers may list and read objects but not get the bucket: the check falls back.
    checks = [(e["op"], e["status"]) for e in gcs.log()][:2]
    assert checks == [("buckets.get", 401), ("objects.list", 200)]


def test_storage_emulator_host_means_no_credentials(fakegcs, mount, tmp_path):
    # The credentials named here would make the mount fail if they were looked at.
    env = hermetic_env(tmp_path, STORAGE_EMULATOR_HOST=fakegcs.url,
                       GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "absent.json"))
    fakegcs.put(BUCKET, "emulated.txt", b"no credentials needed")
    m = mount(endpoint=None, env=env, anonymous=False)
    assert read(m, "emulated.txt") == b"no credentials needed"
    assert identities(fakegcs) == {None}


# --- failures a person understands ----------------------------------------------------

def test_no_credentials_found_says_where_it_looked(gcs, tmp_path):
    # --endpoint alone is not an emulator: credentials are still required.
    out = mount_fails(gcs, tmp_path, env=hermetic_env(tmp_path))
    assert "no credentials found" in out
    assert "--key-file" in out and "GOOGLE_APPLICATION_CREDENTIALS" in out
    assert str(tmp_path / "home" / ".config" / "gcloud" /
               "application_default_credentials.json") in out
    assert "metadata server" in out and "NO_GCE_CHECK" in out
    assert "gcloud auth application-default login" in out and "--anonymous" in out


def make_unreadable(path):
    """Writes path with no permission bits; returns the command prefix under which gcsmount
    cannot read it (root reads anything, but not without these capabilities)."""
    path.write_text("{}")
    path.chmod(0)
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.getuid() == 0 \
        else []


@pytest.mark.parametrize("case,expect", [
    ("missing", "does not exist"),
    ("unreadable", "Permission denied"),
    ("directory", "is not a regular file"),
    ("not-json", "does not hold a JSON object"),
    ("no-type", 'no "type" field'),
    ("external-account", 'type "external_account", which gcsmount does not support'),
    ("no-email", 'lacks the field "client_email"'),
    ("bad-private-key", "is not an unencrypted RSA private key"),
    ("user-without-secret", 'lacks the field "client_secret"'),
])
def test_broken_key_file_is_named_with_what_is_wrong(gcs, tmp_path, rsa_keys, token_endpoint,
                                                     case, expect):
    path = tmp_path / "key.json"
    prefix = []
    good = keys.service_account(SA_EMAIL, rsa_keys["sa"][0], SA_KID, token_endpoint.url)
    if case == "unreadable":
        prefix = make_unreadable(path)
    elif case == "directory":
        path.mkdir()
    elif case == "not-json":
        path.write_text("-----BEGIN PRIVATE KEY-----\nnot json\n")
    elif case == "no-type":
        keys.write(path, {k: v for k, v in good.items() if k != "type"})
    elif case == "external-account":
        keys.write(path, {"type": "external_account",
                          "audience": "//iam.googleapis.com/projects/1/locations/global/x",
                          "token_url": "https://sts.googleapis.com/v1/token"})
    elif case == "no-email":
        keys.write(path, {k: v for k, v in good.items() if k != "client_email"})
    elif case == "bad-private-key":
        keys.write(path, dict(good, private_key=good["private_key"][:200]))
    elif case == "user-without-secret":
        info = keys.authorized_user(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, token_endpoint.url)
        del info["client_secret"]
        keys.write(path, info)
    out = mount_fails(gcs, tmp_path, args=["--key-file", str(path)], env=hermetic_env(tmp_path),
                      prefix=prefix)
    assert expect in out
    assert str(path) in out
    assert "PRIVATE KEY" not in out and good["private_key"][40:80] not in out
    assert not token_endpoint.grants


def test_broken_file_named_by_the_variable_is_an_error_not_skipped(gcs, tmp_path):
    missing = str(tmp_path / "gone.json")
    out = mount_fails(gcs, tmp_path,
                      env=hermetic_env(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=missing))
    assert f"GOOGLE_APPLICATION_CREDENTIALS: {missing} does not exist" in out


def test_revoked_user_credentials_suggest_signing_in_again(gcs, tmp_path, token_endpoint):
    path = user_file(tmp_path / "creds" / "user.json", token_endpoint)
    token_endpoint.revoke_user(REFRESH_TOKEN)
    out = mount_fails(gcs, tmp_path, args=["--key-file", path], env=hermetic_env(tmp_path))
    assert "invalid_grant" in out and "Token has been expired or revoked" in out
    assert "gcloud auth application-default login" in out
    assert path in out
    assert REFRESH_TOKEN not in out and CLIENT_SECRET not in out


def test_wrong_client_secret_is_reported_as_invalid_client(gcs, tmp_path, token_endpoint):
    info = keys.authorized_user(CLIENT_ID, "not-the-secret", REFRESH_TOKEN, token_endpoint.url)
    path = keys.write(tmp_path / "creds" / "user.json", info)
    out = mount_fails(gcs, tmp_path, args=["--key-file", path], env=hermetic_env(tmp_path))
    assert "invalid_client" in out and "HTTP 401" in out
    assert "not-the-secret" not in out


def test_key_unknown_to_google_is_refused_as_invalid_grant(gcs, tmp_path, rsa_keys,
                                                           token_endpoint):
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint, key="other")
    out = mount_fails(gcs, tmp_path, args=["--key-file", path], env=hermetic_env(tmp_path))
    assert "invalid_grant" in out and "Invalid JWT Signature" in out
    assert SA_EMAIL in out and path in out
    assert [g["error"] for g in token_endpoint.grants] == ["invalid_grant"]


def test_bucket_refusal_names_the_identity_and_the_missing_permission(gcs, tmp_path, rsa_keys,
                                                                      token_endpoint):
    gcs.deny(SA_EMAIL, BUCKET)
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint)
    out = mount_fails(gcs, tmp_path, args=["--key-file", path], env=hermetic_env(tmp_path))
    assert f"access to bucket '{BUCKET}' denied for {SA_EMAIL} (HTTP 403" in out
    assert (f"{SA_EMAIL} does not have storage.objects.list access to the Google Cloud "
            "Storage bucket. Permission 'storage.objects.list' denied") in out
    assert (f"`gcloud storage buckets add-iam-policy-binding gs://{BUCKET} "
            f"--member=serviceAccount:{SA_EMAIL} --role=roles/storage.objectUser`") in out
    assert out.count("\n") == 1


def test_identity_with_object_roles_only_still_mounts(gcs, mount, tmp_path, rsa_keys,
                                                      token_endpoint):
    # Storage Object Viewer lacks storage.buckets.get; reading needs only list and get.
    gcs.deny(SA_EMAIL, BUCKET, permissions=["storage.buckets.get"])
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint)
    m = mount(args=["--key-file", path], env=hermetic_env(tmp_path), anonymous=False)
    assert read(m, "hello.txt") == b"hello, credentials\n"


def test_anonymous_mount_of_a_private_bucket_says_access_is_denied(gcs, tmp_path):
    out = mount_fails(gcs, tmp_path, args=["--anonymous"], env=hermetic_env(tmp_path))
    assert f"access to bucket '{BUCKET}' denied for anonymous (HTTP 401" in out
    assert "Anonymous caller does not have storage.objects.list access" in out


def test_key_file_and_anonymous_exclude_each_other(gcs, tmp_path):
    out = mount_fails(gcs, tmp_path, args=["--anonymous", "--key-file", "/x.json"],
                      env=hermetic_env(tmp_path))
    assert "key_file and anonymous exclude each other" in out


# --- token life ---------------------------------------------------------------------------

def test_token_expiring_during_a_long_read_is_replaced_in_time(gcs, mount, tmp_path, rsa_keys,
                                                               token_endpoint):
    token_endpoint.lifetime = 3
    # A slow token endpoint makes overlapping refreshes visible, if there were any.
    token_endpoint.delay = 0.3
    blobs = {f"big/{i}.bin": random.Random(i).randbytes(2 << 20) for i in range(3)}
    for name, data in blobs.items():
        gcs.put(BUCKET, name, data)
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint)
    m = mount(args=["--key-file", path], env=hermetic_env(tmp_path), anonymous=False)
    # One 1 MiB block takes 4 s at this rate: single requests outlive the token they carry.
    gcs.shape(bandwidth_bps=256 << 10)
    first = len(token_endpoint.issued)
    t0 = time.monotonic()
    digests = {}

    def reader(name):
        with open(m.p(name), "rb") as f:
            digests[name] = hashlib.md5(f.read()).hexdigest()

    threads = [threading.Thread(target=reader, args=(n,)) for n in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gcs.shape()
    assert time.monotonic() - t0 > 2 * token_endpoint.lifetime
    assert digests == {n: hashlib.md5(d).hexdigest() for n, d in blobs.items()}
    # The read outlived the token it began with; new ones were fetched before the old ones
    # expired, so GCS never had to refuse one, and the three readers, which needed a token
    # at the same moments, caused one refresh at a time rather than one each.
    assert 1 <= len(token_endpoint.issued) - first <= 4
    assert [e for e in gcs.log() if e["status"] == 401] == []
    assert token_endpoint.max_concurrent == 1


def test_token_refused_by_gcs_is_refreshed_once_and_the_request_retried(gcs, mount, tmp_path,
                                                                        rsa_keys,
                                                                        token_endpoint):
    gcs.put(BUCKET, "second.txt", b"after the 401")
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint)
    m = mount(args=["--key-file", path], env=hermetic_env(tmp_path), anonymous=False)
    assert read(m, "hello.txt") == b"hello, credentials\n"
    issued = len(token_endpoint.issued)
    assert gcs.revoke_token(token_endpoint.issued[-1])
    gcs.clear_log()
    assert read(m, "second.txt") == b"after the 401"
    statuses = [e["status"] for e in gcs.log()]
    assert statuses.count(401) == 1 and statuses[0] == 401
    assert all(s < 300 for s in statuses[1:])
    assert len(token_endpoint.issued) == issued + 1


# --- secrets -----------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["service_account", "authorized_user", "metadata"])
def test_debug_log_holds_no_secret(gcs, mount, tmp_path, rsa_keys, token_endpoint, metadata,
                                   source):
    env = hermetic_env(tmp_path)
    args = ["-o", "log_level=debug"]
    md = None
    if source == "metadata":
        md = metadata(lifetime=3)
        env.update(GCE_METADATA_HOST=md.host, NO_GCE_CHECK=None)
    else:
        token_endpoint.lifetime = 3
        key = tmp_path / "creds" / "key.json"
        path = sa_file(key, rsa_keys, token_endpoint) if source == "service_account" \
            else user_file(key, token_endpoint)
        args += ["--key-file", path]
    for i in range(4):
        gcs.put(BUCKET, f"d/{i}.txt", b"x" * 1000)
    m = mount(args=args, env=env, anonymous=False)
    # Use the mount across a refresh, and through a 401, so that those paths log too (the
    # metadata server hands out its cached token again, so a 401 cannot be cured there).
    read(m, "d/0.txt")
    time.sleep(2)
    read(m, "d/1.txt")
    issuer = md if md else token_endpoint
    if not md:
        gcs.revoke_token(issuer.issued[-1])
    read(m, "d/2.txt")
    os.listdir(m.p("d"))
    m.stop()
    text = m.log() + m.stderr()
    assert "new access token for" in text and " debug: " in text
    secrets = list(issuer.issued) + list(token_endpoint.assertions)
    secrets += [REFRESH_TOKEN, CLIENT_SECRET]
    pem_lines = [line for line in rsa_keys["sa"][0].splitlines() if "-----" not in line]
    secrets += pem_lines
    # The signature part of an assertion alone would also be a leak.
    secrets += [a.rsplit(".", 1)[-1] for a in token_endpoint.assertions]
    assert len(issuer.issued) >= (2 if md else 3)
    leaked = [s for s in secrets if s and s in text]
    assert leaked == []


def test_key_file_others_may_read_gets_a_warning(gcs, mount, tmp_path, rsa_keys,
                                                 token_endpoint):
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint, mode=0o644)
    m = mount(args=["--key-file", path], env=hermetic_env(tmp_path), anonymous=False)
    m.expect_log(r"can be read by every user \(mode 0644\).*chmod 600")
    assert f"{path} can be read by every user (mode 0644)" in m.log()


def test_key_file_the_group_may_read_gets_a_warning(gcs, mount, tmp_path, rsa_keys,
                                                    token_endpoint):
    path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, token_endpoint, mode=0o640)
    m = mount(args=["--key-file", path], env=hermetic_env(tmp_path), anonymous=False)
    m.expect_log(r"can be read by its group \(mode 0640\)")
    assert "chmod 600" in m.log()


def test_tls_is_verified_and_ca_file_trusts_a_private_ca(gcs, mount, tmp_path, rsa_keys):
    cert, key = keys.tls_certificate(str(tmp_path))
    ep = TokenEndpoint(gcs, tls=(cert, key)).start()
    try:
        ep.add_service_account(SA_EMAIL, SA_KID, rsa_keys["sa"][1])
        assert ep.url.startswith("https://")
        path = sa_file(tmp_path / "creds" / "sa.json", rsa_keys, ep)
        out = mount_fails(gcs, tmp_path, args=["--key-file", path], env=hermetic_env(tmp_path))
        assert f"cannot reach the token endpoint {ep.url}" in out
        assert "certificate" in out
        assert not ep.grants
        m = mount(args=["--key-file", path, "--ca-file", cert], env=hermetic_env(tmp_path),
                  anonymous=False)
        assert read(m, "hello.txt") == b"hello, credentials\n"
        assert [g["ok"] for g in ep.grants] == [True]
    finally:
        ep.stop()


# --- the VM scope trap and boot-time mounts --------------------------------------------------

def _mounted_read_only(path):
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == os.path.realpath(path):
                return "ro" in fields[3].split(",")
    return False


def test_read_only_vm_scope_warns_and_mounts_read_only(gcs, mount, tmp_path, metadata):
    md = metadata(scopes=VM_DEFAULT_SCOPES)
    m = mount(env=hermetic_env(tmp_path, GCE_METADATA_HOST=md.host, NO_GCE_CHECK=None),
              anonymous=False)
    m.expect_log(r"allows only reading Cloud Storage")
    assert read(m, "hello.txt") == b"hello, credentials\n"
    warning = [line for line in m.log().splitlines() if " warning: " in line]
    assert len(warning) == 1 and md.email in warning[0]
    assert "stop the VM" in warning[0] and "Full" in warning[0]
    assert "cloud-platform" in warning[0]
    assert f"--service-account={md.email} --scopes=storage-full" in warning[0]
    assert _mounted_read_only(m.path)
    with pytest.raises(OSError) as exc:
        open(m.p("new.txt"), "wb")
    assert exc.value.errno == errno.EROFS


def test_read_only_vm_scope_is_one_line_with_the_fix_in_a_notebook(gcs, tmp_path, metadata):
    md = metadata(scopes=VM_DEFAULT_SCOPES)
    m = Mount(gcs.url, BUCKET, tmp_path / "nb", tmp_path / "nb.log", foreground=False,
              anonymous=False, env=hermetic_env(tmp_path, GCE_METADATA_HOST=md.host,
                                                NO_GCE_CHECK=None))
    os.makedirs(m.path, exist_ok=True)
    try:
        res = subprocess.run(m.command(), env=m.environment(), capture_output=True, timeout=60)
        out = res.stdout.decode()
        assert res.returncode == 0 and res.stderr == b"", res.stderr
        assert out.count("\n") == 1
        assert out.startswith(f"gcsmount: mounted gs://{BUCKET} on {os.path.realpath(m.path)} "
                              f"read-only, as {md.email}: the token of {md.email} allows only "
                              "reading Cloud Storage")
        assert "stop the VM" in out and "--scopes=storage-full" in out
    finally:
        m.stop()


def test_vm_without_a_storage_scope_is_refused_with_the_fix(gcs, tmp_path, metadata):
    md = metadata(scopes=VM_DEFAULT_SCOPES[1:])
    out = mount_fails(gcs, tmp_path,
                      env=hermetic_env(tmp_path, GCE_METADATA_HOST=md.host, NO_GCE_CHECK=None))
    assert "carries no Cloud Storage scope" in out and "logging.write" in out
    assert "stop the VM" in out and "Read Only or Full" in out
    assert gcs.log() == []


def test_mount_waits_for_a_metadata_server_that_starts_late(gcs, mount, tmp_path, metadata):
    md = metadata(start=False)
    md.start(delay=2.0)
    t0 = time.monotonic()
    m = mount(args=["-o", "metadata_timeout=30"],
              env=hermetic_env(tmp_path, GCE_METADATA_HOST=md.host, NO_GCE_CHECK=None),
              anonymous=False)
    assert time.monotonic() - t0 >= 1.5
    assert read(m, "hello.txt") == b"hello, credentials\n"


def test_metadata_server_that_never_answers_fails_after_the_timeout(gcs, tmp_path, metadata):
    md = metadata(start=False)
    t0 = time.monotonic()
    out = mount_fails(gcs, tmp_path, args=["-o", "metadata_timeout=1.5"],
                      env=hermetic_env(tmp_path, GCE_METADATA_HOST=md.host, NO_GCE_CHECK=None))
    elapsed = time.monotonic() - t0
    assert f"the GCE metadata server at {md.host} did not answer within 1.5 s" in out
    assert "metadata_timeout=SECONDS" in out
    assert 1.4 <= elapsed < 5
