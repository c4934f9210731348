"""Object names a filesystem cannot show as they are, put in the bucket by other tools: the
mount never crashes, never shows an entry that could lead out of its directory, and behaves as
README's "Names the filesystem cannot show" says. Names the mount cannot store are refused
before any request."""
import errno
import os
import subprocess

import pytest

from settle import settle

BUCKET = "test-bucket"


def listing(path):
    return sorted(os.listdir(path))


def test_dot_and_dotdot_segments_are_left_out_and_lead_nowhere(fakegcs, mount):
    fakegcs.put(BUCKET, "a/../escaped", b"must not appear as a/..")
    fakegcs.put(BUCKET, "a/./here", b"must not appear as a/.")
    fakegcs.put(BUCKET, "a/real", b"real")
    fakegcs.put(BUCKET, "secret", b"top-level")
    m = mount()
    m.expect_log(r"cannot be shown as entries")
    assert listing(m.p("a")) == ["real"]
    # The kernel resolves ".." itself: a/../secret is the top-level object, not a/../secret.
    assert open(m.p("a", "..", "secret"), "rb").read() == b"top-level"
    with pytest.raises(FileNotFoundError):
        open(m.p("a", "..", "escaped"))
    assert listing(m.path) == ["a", "secret"]


def test_empty_segments_and_a_leading_slash_are_left_out(fakegcs, mount):
    fakegcs.put(BUCKET, "d//double", b"x")
    fakegcs.put(BUCKET, "/leading", b"x")
    fakegcs.put(BUCKET, "d/ok", b"ok")
    m = mount()
    m.expect_log(r"cannot be shown as entries")
    assert listing(m.path) == ["d"]
    assert listing(m.p("d")) == ["ok"]
    res = subprocess.run(["ls", "-laR", m.path], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_control_characters_are_ordinary_name_bytes(fakegcs, mount):
    names = ["tab\tname", "bell\x07", "esc\x1b[31mred", "del\x7f"]
    for n in names:
        fakegcs.put(BUCKET, "ctl/" + n, n.encode())
    m = mount()
    assert listing(m.p("ctl")) == sorted(names)
    for n in names:
        assert open(m.p("ctl", n), "rb").read() == n.encode()
    with open(m.p("ctl", "new\x01one"), "wb") as f:
        f.write(b"made here")
    settle(m)
    assert fakegcs.get(BUCKET, "ctl/new\x01one") == b"made here"


def test_long_names_up_to_the_limits_work_and_past_them_are_refused(fakegcs, mount):
    seg = "s" * 255
    deep = "/".join([seg] * 4)[:1024 - 2] + "/f"  # 1,024 bytes in all
    assert len(deep.encode()) == 1024
    fakegcs.put(BUCKET, deep, b"deep")
    fakegcs.put(BUCKET, "w/" + "x" * 256, b"segment too long")
    m = mount()
    m.expect_log(r"cannot be shown as entries")
    assert open(os.path.join(m.path, *deep.split("/")), "rb").read() == b"deep"
    assert listing(m.p("w")) == []
    with pytest.raises(OSError) as e:
        open(m.p("x" * 256), "wb")
    assert e.value.errno == errno.ENAMETOOLONG
    # A name of 255 bytes in a deep directory would make an object name of over 1,024 bytes.
    parent = os.path.join(m.path, *deep.split("/")[:-1])
    with pytest.raises(OSError) as e:
        open(os.path.join(parent, "y" * 255), "wb")
    assert e.value.errno == errno.ENAMETOOLONG
    assert sorted(fakegcs.list(BUCKET)) == sorted([deep, "w/" + "x" * 256])


def test_names_that_are_not_utf8_are_refused_with_einval(fakegcs, mount):
    m = mount()
    bad = os.path.join(m.path.encode(), b"bad-\xff\xfe")
    for make in (lambda p: open(p, "wb"), os.mkdir, lambda p: os.symlink(b"t", p)):
        with pytest.raises(OSError) as e:
            make(bad)
        assert e.value.errno == errno.EINVAL
    with open(m.p("good"), "wb"):
        pass
    with pytest.raises(OSError) as e:
        os.rename(m.p("good").encode(), bad)
    assert e.value.errno == errno.EINVAL
    settle(m)
    assert fakegcs.list(BUCKET) == ["good"]


def test_a_file_beside_a_directory_of_the_same_name_shows_the_directory(fakegcs, mount):
    fakegcs.put(BUCKET, "foo", b"the file")
    fakegcs.put(BUCKET, "foo/bar", b"in the directory")
    m = mount()
    assert listing(m.path) == ["foo"]
    assert os.path.isdir(m.p("foo"))
    assert open(m.p("foo", "bar"), "rb").read() == b"in the directory"
    assert "share a name with a directory" in m.log()
    # The file is untouched and still reachable through other tools.
    assert fakegcs.get(BUCKET, "foo") == b"the file"
