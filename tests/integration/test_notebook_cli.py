"""What a notebook cell shows: `!gcsmount BUCKET DIR` prints one line on success and one
sentence with the fix on failure; `gcsmount --status` reports what waits for upload, what was
recovered and the errors; `gcsmount --unmount` says whether every written byte reached the
bucket before the VM may be stopped."""
import os
import subprocess
import sys
import time

import pytest

from mounting import gcsmount_binary, is_mounted, unmount

BUCKET = "test-bucket"


def gcsmount(*args, env=None, timeout=60):
    full_env = dict(os.environ)
    full_env.pop("STORAGE_EMULATOR_HOST", None)
    full_env.update(env or {})
    return subprocess.run([gcsmount_binary(), *args], capture_output=True, timeout=timeout,
                          env=full_env, stdin=subprocess.DEVNULL)


@pytest.fixture
def daemon(fakegcs, tmp_path):
    """Mounts in the background, as a notebook cell does; returns (mountpoint, result)."""
    mounted = []

    def make(*extra, bucket=BUCKET):
        mp = tmp_path / f"mnt{len(mounted)}"
        mp.mkdir()
        res = gcsmount("--endpoint", fakegcs.url, "--anonymous", "--staging-dir",
                       str(tmp_path / "staging"), "--log-file", str(tmp_path / "log"),
                       *extra, bucket, str(mp))
        mounted.append(str(mp))
        return str(mp), res

    yield make
    for mp in mounted:
        if is_mounted(mp):
            unmount(mp)


def test_mount_prints_one_line_naming_bucket_mountpoint_access_and_identity(daemon):
    mp, res = daemon()
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode() == (f"gcsmount: mounted gs://{BUCKET} on {mp} read-write, "
                                   "as anonymous\n")
    assert res.stderr == b""
    mp2, res = daemon("-o", "ro")
    assert res.stdout.decode() == (f"gcsmount: mounted gs://{BUCKET} on {mp2} read-only "
                                   "(-o ro), as anonymous\n")


def test_missing_bucket_fails_with_how_to_find_the_right_name(daemon):
    mp, res = daemon(bucket="no-such-bucket")
    err = res.stderr.decode()
    assert res.returncode != 0 and not is_mounted(mp)
    assert err.count("\n") == 1, err
    assert "bucket 'no-such-bucket' does not exist" in err
    assert "`gcloud storage ls` lists the buckets" in err


def test_no_fuse_device_says_how_to_get_one(fakegcs, tmp_path):
    mp = tmp_path / "mnt"
    mp.mkdir()
    # A mount namespace of its own, with an empty /dev: as in a container without FUSE.
    script = (f"mount -t tmpfs none /dev && exec {gcsmount_binary()} --endpoint {fakegcs.url} "
              f"--anonymous {BUCKET} {mp}")
    res = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         capture_output=True, timeout=60)
    err = res.stderr.decode()
    assert res.returncode != 0, err
    assert err.count("\n") == 1, err
    assert "no FUSE device" in err and "modprobe fuse" in err and "--device /dev/fuse" in err


def status_of(mp):
    res = gcsmount("--status", mp)
    assert res.returncode == 0, res.stderr
    return dict(line.split(": ", 1) for line in res.stdout.decode().splitlines())


def test_status_reports_pending_uploads_recovered_files_and_errors(fakegcs, daemon, tmp_path):
    mp, res = daemon()
    assert res.returncode == 0, res.stderr
    st = status_of(mp)
    assert st["mount"] == f"gs://{BUCKET} on {mp}"
    assert st["access"] == "read-write" and st["identity"] == "anonymous"
    assert st["uploads pending"] == "0" and st["errors since mount"] == "0"
    assert st["recovered files"] == f"0 in {tmp_path}/staging/{BUCKET}/recovered"

    # A writer in a process of its own: a copy of its descriptor in a child that runs
    # gcsmount --status would be closed there, and closing flushes (uploads) it.
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; f = open(sys.argv[1], 'wb'); f.write(b'x' * 5000); f.flush(); "
         "print('written', flush=True); sys.stdin.read(); f.close()",
         os.path.join(mp, "draft.txt")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"written\n"
        st = status_of(mp)
        assert st["uploads pending"] == "1" and st["bytes staged"] == "5000"
    finally:
        writer.communicate(b"", timeout=30)
    # With upload_on_close=background the upload follows the close.
    deadline = time.monotonic() + 30
    while status_of(mp)["uploads pending"] != "0" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status_of(mp)["uploads pending"] == "0"
    assert fakegcs.get(BUCKET, "draft.txt") == b"x" * 5000

    # A conflicting upload ends in the recovery folder, and is counted as an error.
    with open(os.path.join(mp, "draft.txt"), "r+b") as f:
        f.write(b"mine")
        fakegcs.put(BUCKET, "draft.txt", b"someone else's")
        f.flush()
        with pytest.raises(OSError):
            os.fsync(f.fileno())  # uploads now in either upload_on_close mode
    st = status_of(mp)
    assert st["recovered files"].startswith("1 in ")
    assert int(st["errors since mount"]) >= 1


def test_status_without_a_mountpoint_lists_every_mount(daemon):
    mp1, _ = daemon()
    mp2, _ = daemon("-o", "ro")
    res = gcsmount("--status")
    out = res.stdout.decode()
    assert res.returncode == 0
    assert f"mount: gs://{BUCKET} on {mp1}\n" in out and f"mount: gs://{BUCKET} on {mp2}\n" in out


def test_status_of_a_folder_that_is_no_mount_fails(tmp_path):
    res = gcsmount("--status", str(tmp_path))
    assert res.returncode != 0
    assert res.stderr.decode() == f"gcsmount: {tmp_path} is not a gcsmount mount\n"


def test_unmount_reports_that_everything_reached_the_bucket(fakegcs, daemon):
    mp, _ = daemon()
    for i in range(5):
        with open(os.path.join(mp, f"f{i}"), "wb") as f:
            f.write(b"data %d" % i)
    res = gcsmount("--unmount", mp)
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().endswith(
        f"gcsmount: all written data is in the bucket; unmounted {mp}\n")
    assert not is_mounted(mp)
    assert sorted(fakegcs.list(BUCKET)) == [f"f{i}" for i in range(5)]
    assert fakegcs.get(BUCKET, "f3") == b"data 3"


def test_unmount_of_a_busy_mount_leaves_it_mounted_and_says_why(daemon):
    mp, _ = daemon()
    busy = subprocess.Popen(["sleep", "30"], cwd=mp)
    try:
        time.sleep(0.2)
        res = gcsmount("--unmount", mp)
        assert res.returncode != 0
        assert "is still in use, so it stays mounted" in res.stderr.decode()
        assert f"fuser -vm {mp}" in res.stderr.decode()
        assert is_mounted(mp)
    finally:
        busy.kill()
        busy.wait()
