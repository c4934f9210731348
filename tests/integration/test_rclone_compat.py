"""rclone (a real GCS client) against the fake GCS server.

If an independent, widely used client can upload, list, download, rename and
delete through the fake server and get identical bytes back, the server's
wire format is not just shaped by our own client's assumptions.  rclone 1.60
uses the JSON API: multipart uploads for small files, resumable uploads (16
MiB chunks) for large ones, mediaLink downloads, rewrite for server-side
copies.
"""

import base64
import hashlib
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("rclone") is None,
                                reason="rclone is not installed (apt install rclone)")

BUCKET = "test-bucket"
BIG = 20 * 1024 * 1024 + 12345          # above rclone's 16 MiB upload chunk

TREE = {
    "plain.txt": b"hello\n",
    "with space.txt": b"spaces in the name\n",
    "unicod\u00e9/na\u00efve \u65e5\u672c.txt": "unicode \u2603\n".encode(),
    "percent%20not-a-space.txt": b"percent\n",
    "plus+sign.txt": b"plus\n",
    "hash#tag.txt": b"hash\n",
    "question?.txt": b"question\n",
    "empty.bin": b"",
    "deep/a/b/c.txt": b"deep\n",
}


def rclone(gcs, tmp_path, *args, timeout=180):
    config = tmp_path / "rclone.conf"
    config.touch()
    env = dict(os.environ)
    env.update({
        "RCLONE_CONFIG": str(config),
        "RCLONE_CONFIG_FAKE_TYPE": "google cloud storage",
        "RCLONE_CONFIG_FAKE_ANONYMOUS": "true",
        "RCLONE_CONFIG_FAKE_ENDPOINT": gcs.url + "/storage/v1/",
        "RCLONE_CACHE_DIR": str(tmp_path / "rclone-cache"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    })
    cmd = ["rclone", "--retries", "1", "--low-level-retries", "2", *args]
    result = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
    assert result.returncode == 0, (
        "%s failed (%d):\n%s\n%s\nserver:\n%s" % (
            " ".join(cmd), result.returncode, result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"), gcs.server_output()[-3000:]))
    return result.stdout.decode()


def make_tree(root):
    files = dict(TREE)
    files["big.bin"] = os.urandom(BIG)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(root):
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def test_rclone_upload_list_download_round_trip_is_byte_identical(fakegcs, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = make_tree(src)
    remote = "fake:%s/tree" % BUCKET

    rclone(fakegcs, tmp_path, "copy", str(src), remote)

    assert sorted(fakegcs.list(BUCKET)) == sorted("tree/" + n for n in files)
    for name, data in files.items():
        res = fakegcs.stat(BUCKET, "tree/" + name)
        assert int(res["size"]) == len(data)
        assert res["md5Hash"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    log = fakegcs.log()
    inserts = [e for e in log if e["op"] == "objects.insert"]
    kinds = sorted(e["query"].get("uploadType") for e in inserts)
    assert kinds == ["multipart"] * len(TREE) + ["resumable"]
    chunks = [e for e in log if e["op"] == "uploads.chunk"]
    assert len(chunks) >= 2 and sum(e["bytes_in"] for e in chunks) == BIG

    listed = set(rclone(fakegcs, tmp_path, "lsf", "-R", remote).split("\n")) - {""}
    expected_dirs = {"unicod\u00e9/", "deep/", "deep/a/", "deep/a/b/"}
    assert listed == set(files) | expected_dirs

    rclone(fakegcs, tmp_path, "check", str(src), remote)      # sizes and MD5s

    fakegcs.clear_log()
    rclone(fakegcs, tmp_path, "copy", remote, str(dst))
    assert read_tree(dst) == {os.path.join(*n.split("/")): d for n, d in files.items()}
    downloads = [e for e in fakegcs.log() if e["op"] == "objects.media"]
    assert len(downloads) == len(files)


def test_rclone_moveto_uses_rewrite_and_delete_removes_objects(fakegcs, tmp_path):
    src = tmp_path / "src"
    for name, data in TREE.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    remote = "fake:%s/tree" % BUCKET
    rclone(fakegcs, tmp_path, "copy", str(src), remote)
    before = fakegcs.stat(BUCKET, "tree/with space.txt")

    fakegcs.clear_log()
    rclone(fakegcs, tmp_path, "moveto", remote + "/with space.txt", remote + "/moved #1.txt")
    ops = [e["op"] for e in fakegcs.log()]
    assert "objects.rewrite" in ops and "objects.delete" in ops
    assert fakegcs.stat(BUCKET, "tree/with space.txt") is None
    moved = fakegcs.stat(BUCKET, "tree/moved #1.txt")
    assert moved["md5Hash"] == before["md5Hash"]
    assert int(moved["generation"]) > int(before["generation"])
    assert fakegcs.get(BUCKET, "tree/moved #1.txt") == TREE["with space.txt"]

    rclone(fakegcs, tmp_path, "delete", remote + "/deep")
    rclone(fakegcs, tmp_path, "delete", remote + "/question?.txt")
    remaining = set(fakegcs.list(BUCKET))
    assert not any(n.startswith("tree/deep/") for n in remaining)
    assert "tree/question?.txt" not in remaining
    assert "tree/plain.txt" in remaining and "tree/moved #1.txt" in remaining
