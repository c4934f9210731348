"""Waiting for the uploads a close started.

With upload_on_close=background (the default), close returns once the written data is safe in
the staging folder, and the upload follows. A test that looks at the bucket after closing a
file first calls settle(m): it returns once the mount's staging folder is empty, that is once
every closed file was uploaded (or, failing that, copied to the recovery folder). Files still
open stay staged, so settle only after closing them. In wait mode it returns at once.
"""
import glob
import os
import time


def staging_root(m):
    """BASE/BUCKET/staging of a Mount (tests/integration/mounting.py)."""
    args = m.args
    for i, a in enumerate(args):
        if a == "--staging-dir":
            base = args[i + 1]
            break
        if a.startswith("--staging-dir="):
            base = a.split("=", 1)[1]
            break
    else:
        raise ValueError("the mount has no --staging-dir")
    return os.path.join(base, m.bucket, "staging")


def staged_files(m):
    return [p for p in glob.glob(os.path.join(staging_root(m), "*", "*")) if os.path.isfile(p)]


def settle(m, timeout=30.0):
    """Waits until no file of mount m waits for its upload."""
    deadline = time.monotonic() + timeout
    while staged_files(m):
        if time.monotonic() > deadline:
            raise AssertionError("uploads still pending after %gs: %s" % (timeout, staged_files(m)))
        time.sleep(0.02)
