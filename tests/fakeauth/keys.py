"""Keys, certificates and credential files for tests, made with the openssl command.

The files have the shape of the real ones: a service-account key as the Cloud console
downloads it, and the authorized_user file that `gcloud auth application-default login`
writes.  Their token_uri points at a local TokenEndpoint.
"""

import json
import os
import subprocess


def _openssl(*args):
    subprocess.run(("openssl",) + args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


def rsa_key(directory, name="key"):
    """A new 2048-bit RSA key: (private PEM, public PEM) as text (PKCS#8, SPKI)."""
    private = os.path.join(directory, name + ".pem")
    public = os.path.join(directory, name + ".pub.pem")
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private)
    _openssl("pkey", "-in", private, "-pubout", "-out", public)
    with open(private) as f, open(public) as g:
        return f.read(), g.read()


def tls_certificate(directory):
    """A self-signed certificate for 127.0.0.1: (certificate path, key path)."""
    cert = os.path.join(directory, "tls-cert.pem")
    key = os.path.join(directory, "tls-key.pem")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key,
             "-out", cert)
    return cert, key


def service_account(email, private_pem, kid, token_uri):
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": kid,
        "private_key": private_pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + email,
        "universe_domain": "googleapis.com",
    }


def authorized_user(client_id, client_secret, refresh_token, token_uri, account=None):
    info = {
        "type": "authorized_user",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
        "token_uri": token_uri,
        "quota_project_id": "test-project",
        "universe_domain": "googleapis.com",
    }
    if account:
        info["account"] = account
    return info


def write(path, info, mode=0o600):
    """Writes a credentials file with the given permission bits."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(info, f, indent=2)
    os.chmod(path, mode)
    return str(path)
