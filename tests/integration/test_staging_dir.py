"""A user whose default staging folder cannot be made (nobody, whose home is /nonexistent, or
a home the user may not write) gets an error that names the fix: the staging_dir option.

gcsmount runs here as the user nobody, because root may write anywhere; the mount point and
key folders are made world-readable so that only the staging folder stands in the way."""
import os
import shutil
import subprocess
import tempfile

import pytest

from mounting import gcsmount_binary, is_mounted, unmount

BUCKET = "test-bucket"
NOBODY = 65534


@pytest.fixture
def public_dir():
    """A folder nobody may enter, for mount points; removed afterwards."""
    path = tempfile.mkdtemp(prefix="gcsmount-staging-test-")
    os.chmod(path, 0o755)
    yield path
    mnt = os.path.join(path, "mnt")
    if os.path.isdir(mnt) and is_mounted(mnt):
        unmount(mnt)
    shutil.rmtree(path, ignore_errors=True)


def run_as_nobody(fakegcs, public_dir, env, args=()):
    mnt = os.path.join(public_dir, "mnt")
    os.makedirs(mnt, exist_ok=True)
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    full_env.update(env)
    cmd = [gcsmount_binary(), "--endpoint", fakegcs.url, "--anonymous"] + list(args) + \
        [BUCKET, mnt]
    return subprocess.run(cmd, env=full_env, capture_output=True, timeout=60, user=NOBODY,
                          group=NOBODY, extra_groups=[], cwd="/")


def assert_names_the_fix(res, folder):
    err = res.stderr.decode(errors="replace")
    assert res.returncode != 0, err
    assert "staging folder %s/%s" % (folder, BUCKET) in err, err
    assert "-o staging_dir=PATH" in err and "--staging-dir PATH" in err, err


def test_home_that_does_not_exist_names_the_staging_dir_option(fakegcs, public_dir):
    # nobody's home in /etc/passwd, as su and sudo set it.
    res = run_as_nobody(fakegcs, public_dir, {"HOME": "/nonexistent"})
    assert_names_the_fix(res, "/nonexistent/.cache/gcsmount")


def test_home_the_user_cannot_write_names_the_staging_dir_option(fakegcs, public_dir):
    home = os.path.join(public_dir, "root-owned-home")
    os.mkdir(home, 0o755)
    res = run_as_nobody(fakegcs, public_dir, {"HOME": home})
    assert_names_the_fix(res, home + "/.cache/gcsmount")


def test_cache_home_the_user_cannot_write_names_the_staging_dir_option(fakegcs, public_dir):
    cache = os.path.join(public_dir, "root-owned-cache")
    os.mkdir(cache, 0o755)
    res = run_as_nobody(fakegcs, public_dir, {"XDG_CACHE_HOME": cache})
    assert_names_the_fix(res, cache + "/gcsmount")


def test_named_staging_folder_the_user_cannot_write_says_so(fakegcs, public_dir):
    folder = os.path.join(public_dir, "not-for-nobody")
    os.mkdir(folder, 0o755)
    res = run_as_nobody(fakegcs, public_dir, {"HOME": "/nonexistent"},
                        args=["-o", "staging_dir=" + folder])
    assert_names_the_fix(res, folder)
