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
