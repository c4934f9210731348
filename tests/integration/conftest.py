"""Shared fixtures for the integration tests.

``fakegcs``: a fake GCS server (tests/fakegcs) started once per test module
and reset before each test, with the bucket "test-bucket".
"""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.fakegcs.harness import FakeGCS  # noqa: E402


@pytest.fixture(scope="module")
def fakegcs_server():
    server = FakeGCS.start(buckets=["test-bucket"])
    yield server
    server.stop()


@pytest.fixture
def fakegcs(fakegcs_server):
    fakegcs_server.reset()
    return fakegcs_server


sys.path.insert(0, str(Path(__file__).resolve().parent))
from mounting import Mount  # noqa: E402

_DEFAULT = object()


@pytest.fixture
def mount(fakegcs, tmp_path):
    """Factory: mount(bucket=, args=, env=, foreground=, endpoint=, anonymous=) -> a started
    Mount.

    Every mount is unmounted when the test ends, pass or fail, and the test fails if the
    daemon logged an error or warning it did not declare with Mount.expect_log().
    """
    mounts = []

    def make(bucket="test-bucket", args=(), env=None, foreground=True, endpoint=_DEFAULT,
             anonymous=True):
        i = len(mounts)
        args = list(args)
        if not any(a.startswith("--staging-dir") or "staging_dir" in a for a in args):
            args = ["--staging-dir", str(tmp_path / f"staging{i}")] + args
        m = Mount(fakegcs.url if endpoint is _DEFAULT else endpoint, bucket,
                  tmp_path / f"mnt{i}", tmp_path / f"gcsmount{i}.log", args=args, env=env,
                  foreground=foreground, anonymous=anonymous)
        mounts.append(m)
        return m.start()

    yield make
    for m in mounts:
        m.stop()
    bad = [line for m in mounts for line in m.unexpected_log_lines()]
    if bad:
        pytest.fail("gcsmount logged errors the test did not expect:\n" + "\n".join(bad))
