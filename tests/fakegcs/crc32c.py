"""CRC32C (Castagnoli) checksums for the fake GCS server.

GCS reports a CRC32C for every object, and clients verify it, so the server
must compute it for every byte it stores.  The standard library has no CRC32C,
so this module offers three implementations behind one function:

* Debian's python3-crc32c (a C extension, ./setup.sh installs it), when it is
  importable (fastest; checked against the pure-Python code at import time);
* the Linux kernel's crc32c through an AF_ALG socket, when the kernel offers
  it (fast, and checked against the pure-Python code at import time);
* a pure-Python implementation that runs many independent CRC registers side
  by side, one per block of the input, using ``bytes.translate`` as a table
  lookup over whole byte planes and big-integer XOR to combine them.  That
  keeps the per-byte work inside C loops (about 100 MB/s), and the block CRCs
  are merged with the usual "feed N zero bytes" linear operator.

Setting FAKEGCS_PURE_CRC=1 in the environment forces the pure-Python code.
The test server's CPU bounds how many small uploads a second it can take, so the
checksum of every stored byte matters to the benchmarks that create files.

``crc32c(data, value)`` follows the ``zlib.crc32`` convention: ``value`` is
the CRC of the bytes that came before, so checksums can be built up chunk by
chunk.  ``combine`` joins the CRCs of two adjacent pieces without their data
(used by compose).
"""

import base64
import importlib
import os
import socket
import struct
import threading

_POLY = 0x82F63B78          # reflected Castagnoli polynomial
_MASK = 0xFFFFFFFF

_TABLE = []
for _b in range(256):
    _c = _b
    for _ in range(8):
        _c = (_c >> 1) ^ (_POLY if _c & 1 else 0)
    _TABLE.append(_c)
# Byte k of each table entry, as translate tables.
_TABLE_BYTES = [bytes((_TABLE[b] >> (8 * k)) & 0xFF for b in range(256))
                for k in range(4)]

# Plane layout of the pure-Python path: blocks of _BLOCK bytes, processed a
# segment of _SEGMENT bytes at a time (keeps the strided reads in cache).
_BLOCK = 64
_SEGMENT = 1 << 20
_MIN_PLANE = _BLOCK * 64


def _update_scalar(state, data):
    table = _TABLE
    for byte in data:
        state = (state >> 8) ^ table[(state ^ byte) & 0xFF]
    return state


# --- the "feed n zero bytes" operator ------------------------------------
# The CRC register update is linear over GF(2), so feeding n zero bytes is a
# 32x32 bit matrix, stored as the images of the 32 unit vectors.

def _apply(columns, value):
    result = 0
    i = 0
    while value:
        if value & 1:
            result ^= columns[i]
        value >>= 1
        i += 1
    return result


_ONE_ZERO_BYTE = [((1 << i) >> 8) ^ _TABLE[(1 << i) & 0xFF] for i in range(32)]
_POW2_OPS = [_ONE_ZERO_BYTE]          # operator for 2**k zero bytes
_ops_lock = threading.Lock()


def _pow2_op(k):
    with _ops_lock:
        while len(_POW2_OPS) <= k:
            last = _POW2_OPS[-1]
            _POW2_OPS.append([_apply(last, c) for c in last])
        return _POW2_OPS[k]


def _shift(state, nbytes):
    """Return the register after feeding ``nbytes`` zero bytes to ``state``."""
    k = 0
    while nbytes and state:
        if nbytes & 1:
            state = _apply(_pow2_op(k), state)
        nbytes >>= 1
        k += 1
    return state


_shift_tables = {}


def _zero_tables(nbytes):
    """Lookup tables for the n-zero-byte operator.

    Returns (ints, translate) where ints[m][b] is the operator applied to
    byte value b at byte position m, and translate[m][k] maps such an input
    byte to byte k of the result.
    """
    tables = _shift_tables.get(nbytes)
    if tables is None:
        ints = [[_shift(b << (8 * m), nbytes) for b in range(256)]
                for m in range(4)]
        trans = [[bytes((ints[m][b] >> (8 * k)) & 0xFF for b in range(256))
                  for k in range(4)] for m in range(4)]
        tables = (ints, trans)
        _shift_tables[nbytes] = tables
    return tables


# --- pure-Python bulk path -------------------------------------------------

def _raw_segment(seg, block):
    """CRC register (zero initial state) of ``seg`` (len a multiple of block)."""
    count = len(seg) // block
    frm = int.from_bytes
    t0, t1, t2, t3 = _TABLE_BYTES
    b0 = b1 = b2 = b3 = 0
    # One register per block; plane k holds byte k of every register.
    for j in range(block):
        idx = (b0 ^ frm(seg[j::block], "little")).to_bytes(count, "little")
        b0 = b1 ^ frm(idx.translate(t0), "little")
        b1 = b2 ^ frm(idx.translate(t1), "little")
        b2 = b3 ^ frm(idx.translate(t2), "little")
        b3 = frm(idx.translate(t3), "little")
    planes = [p.to_bytes(count, "little") for p in (b0, b1, b2, b3)]
    # Merge neighbours pairwise: crc(L || R) = shift(crc(L), len(R)) ^ crc(R).
    span = block
    while count > 1:
        if count & 1:
            # A zero register in front is a block of zeros: harmless.
            planes = [b"\0" + p for p in planes]
            count += 1
        trans = _zero_tables(span)[1]
        left = [p[0::2] for p in planes]
        right = [frm(p[1::2], "little") for p in planes]
        count //= 2
        merged = []
        for k in range(4):
            acc = right[k]
            for m in range(4):
                acc ^= frm(left[m].translate(trans[m][k]), "little")
            merged.append(acc.to_bytes(count, "little"))
        planes = merged
        span *= 2
    return (planes[0][0] | planes[1][0] << 8 | planes[2][0] << 16
            | planes[3][0] << 24)


def _crc32c_python(data, value=0):
    state = (value ^ _MASK) & _MASK
    view = memoryview(data).cast("B")
    total = len(view)
    pos = 0
    while total - pos >= _MIN_PLANE:
        seglen = min(_SEGMENT, (total - pos) // _BLOCK * _BLOCK)
        seg = bytes(view[pos:pos + seglen])
        state = _shift(state, seglen) ^ _raw_segment(seg, _BLOCK)
        pos += seglen
    state = _update_scalar(state, view[pos:])
    return state ^ _MASK


# --- kernel path -------------------------------------------------------------

class _KernelCrc:
    def __init__(self):
        self._sock = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
        self._sock.bind(("hash", "crc32c"))

    def checksum(self, data):
        op, _ = self._sock.accept()
        try:
            view = memoryview(data).cast("B")
            step = 1 << 20
            for i in range(0, len(view), step):
                op.sendall(view[i:i + step], socket.MSG_MORE)
            op.send(b"")
            digest = op.recv(4)
        finally:
            op.close()
        return int.from_bytes(digest, "little")


def _make_kernel():
    if not hasattr(socket, "AF_ALG") or os.environ.get("FAKEGCS_PURE_CRC"):
        return None
    try:
        kernel = _KernelCrc()
        sample = bytes(range(256)) * 301 + b"tail"
        if kernel.checksum(b"123456789") != 0xE3069283:
            return None
        if kernel.checksum(sample) != _crc32c_python(sample):
            return None
        return kernel
    except OSError:
        return None


def _make_native():
    """The C extension's crc32c(data, value) function, or None."""
    if os.environ.get("FAKEGCS_PURE_CRC"):
        return None
    try:
        # Absolute import of the top-level module, not this one.
        native = importlib.import_module("crc32c")
    except ImportError:
        return None
    fn = getattr(native, "crc32c", None)
    sample = bytes(range(256)) * 301 + b"tail"
    try:
        if (fn is None or fn(b"123456789") != 0xE3069283
                or fn(sample) != _crc32c_python(sample)
                or fn(sample[1000:], fn(sample[:1000])) != fn(sample)):
            return None
    except (TypeError, ValueError):
        return None
    return fn


_native = _make_native()
_kernel = None if _native is not None else _make_kernel()


# --- public API ----------------------------------------------------------------

def combine(crc_a, crc_b, len_b):
    """CRC32C of A followed by B, from crc(A), crc(B) and len(B)."""
    return _shift(crc_a, len_b) ^ crc_b


def crc32c(data, value=0):
    """CRC32C of ``data``, continuing from ``value`` (the CRC of what came before)."""
    if _native is not None:
        return _native(data, value)
    if _kernel is not None and len(data) >= 64:
        part = _kernel.checksum(data)
        return combine(value, part, len(data)) if value else part
    return _crc32c_python(data, value)


def to_base64(crc):
    """GCS encoding: base64 of the 4-byte big-endian value."""
    return base64.b64encode(struct.pack(">I", crc)).decode("ascii")


def from_base64(text):
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 4:
        raise ValueError("a CRC32C is 4 bytes")
    return struct.unpack(">I", raw)[0]


def implementation():
    """Which implementation is in use ("native", "kernel" or "python")."""
    if _native is not None:
        return "native"
    return "kernel" if _kernel is not None else "python"
