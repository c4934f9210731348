"""RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature checks with the standard library only.

The public key comes from a PEM "PUBLIC KEY" (SubjectPublicKeyInfo), read with a DER reader
just big enough for it; verification is pow(signature, e, n) and a byte-for-byte comparison
with the padding and DigestInfo that PKCS#1 v1.5 prescribes.  Deliberately independent of
OpenSSL, which is what gcsmount signs with.
"""

import base64
import hashlib
import hmac

RSA_OID = bytes.fromhex("2a864886f70d010101")          # 1.2.840.113549.1.1.1
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class DerError(ValueError):
    pass


def _tlv(data, pos):
    """One DER element at pos: (tag, value bytes, position after it)."""
    if pos + 2 > len(data):
        raise DerError("truncated")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7f
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise DerError("truncated value")
    return tag, data[pos:pos + length], pos + length


def _expect(data, pos, tag):
    got, value, end = _tlv(data, pos)
    if got != tag:
        raise DerError("expected tag 0x%02x, found 0x%02x" % (tag, got))
    return value, end


def pem_body(pem, label):
    begin, end = "-----BEGIN %s-----" % label, "-----END %s-----" % label
    text = pem.decode() if isinstance(pem, bytes) else pem
    if begin not in text or end not in text:
        raise DerError("no %s block" % label)
    inner = text.split(begin, 1)[1].split(end, 1)[0]
    return base64.b64decode("".join(inner.split()))


def public_key_from_pem(pem):
    """(n, e) of an RSA public key in a PEM "PUBLIC KEY" block."""
    spki, _ = _expect(pem_body(pem, "PUBLIC KEY"), 0, 0x30)
    algorithm, pos = _expect(spki, 0, 0x30)
    oid, _ = _expect(algorithm, 0, 0x06)
    if oid != RSA_OID:
        raise DerError("not an RSA key")
    bits, _ = _expect(spki, pos, 0x03)
    if not bits or bits[0] != 0:
        raise DerError("bad bit string")
    rsa_key, _ = _expect(bits[1:], 0, 0x30)
    n, pos = _expect(rsa_key, 0, 0x02)
    e, _ = _expect(rsa_key, pos, 0x02)
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def verify_rs256(key, message, signature):
    """True when signature is a valid RS256 signature of message under key (n, e)."""
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    if k < len(t) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def b64url_decode(text):
    if isinstance(text, str):
        text = text.encode("ascii")
    if b"=" in text or not all(c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    b"0123456789-_" for c in text):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
