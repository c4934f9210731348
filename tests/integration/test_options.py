"""Mount options that change what the mount shows: only_dir and implicit_dirs."""
import os
import subprocess

import pytest

BUCKET = "test-bucket"


def test_only_dir_mounts_a_prefix_and_writes_under_it(fakegcs, mount):
    for name in ("team/a/x.txt", "team/a/sub/y", "team/b/nope", "other/z"):
        fakegcs.put(BUCKET, name, name.encode())
    m = mount(args=["-o", "only_dir=/team/a/"])
    assert sorted(os.listdir(m.path)) == ["sub", "x.txt"]
    assert open(m.p("sub", "y"), "rb").read() == b"team/a/sub/y"
    with open(m.p("new.txt"), "wb") as f:
        f.write(b"inside")
    os.mkdir(m.p("d"))
    os.rename(m.p("x.txt"), m.p("d", "x.txt"))
    assert sorted(fakegcs.list(BUCKET)) == ["other/z", "team/a/d/", "team/a/d/x.txt",
                                           "team/a/new.txt", "team/a/sub/y", "team/b/nope"]


def test_only_dir_with_empty_segments_is_refused(fakegcs, tmp_path):
    from mounting import Mount
    (tmp_path / "mnt").mkdir()
    m = Mount(fakegcs.url, BUCKET, tmp_path / "mnt", tmp_path / "log",
              args=["-o", "only_dir=a//b", "--staging-dir", str(tmp_path / "st")])
    res = subprocess.run(m.command(), capture_output=True, timeout=30)
    assert res.returncode != 0
    assert "only_dir" in res.stderr.decode()


def test_without_implicit_dirs_only_placeholders_are_directories(fakegcs, mount):
    for name in ("explicit/", "explicit/f", "implicit/g", "top"):
        fakegcs.put(BUCKET, name, b"")
    m = mount(args=["-o", "implicit_dirs=off"])
    assert sorted(os.listdir(m.path)) == ["explicit", "top"]
    assert os.listdir(m.p("explicit")) == ["f"]
    with pytest.raises(FileNotFoundError):
        os.stat(m.p("implicit"))


def test_implicit_dirs_are_shown_by_default(fakegcs, mount):
    fakegcs.put(BUCKET, "implicit/g", b"")
    m = mount()
    assert os.listdir(m.path) == ["implicit"]
    assert os.path.isdir(m.p("implicit"))


def test_billing_project_is_sent_on_every_request_to_a_requester_pays_bucket(fakegcs, mount):
    fakegcs.put(BUCKET, "paid/data.txt", b"costs money")
    fakegcs.requester_pays(BUCKET)
    m = mount(args=["-o", "billing_project=my-project"])
    assert os.listdir(m.p("paid")) == ["data.txt"]
    assert open(m.p("paid", "data.txt"), "rb").read() == b"costs money"
    with open(m.p("paid", "new.txt"), "wb") as f:
        f.write(b"written")
    os.rename(m.p("paid", "new.txt"), m.p("paid", "moved.txt"))
    os.unlink(m.p("paid", "moved.txt"))
    billed = [e for e in fakegcs.log() if e["op"] not in ("uploads.chunk", "uploads.cancel")]
    assert billed and all(e["user_project"] == "my-project" for e in billed), billed
    assert not [e for e in fakegcs.log() if e["status"] == 400]


def test_requester_pays_bucket_without_billing_project_fails_clearly(fakegcs, tmp_path):
    from mounting import Mount
    fakegcs.requester_pays(BUCKET)
    (tmp_path / "mnt").mkdir()
    m = Mount(fakegcs.url, BUCKET, tmp_path / "mnt", tmp_path / "log",
              args=["--staging-dir", str(tmp_path / "st")])
    res = subprocess.run(m.command(), capture_output=True, timeout=30)
    assert res.returncode != 0
    assert "requester pays" in res.stderr.decode()
