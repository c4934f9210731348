"""Read-only mounts of the test server, used through real tools (ls, stat, cat, cp, md5sum)
and Python file I/O."""
import errno
import hashlib
import os
import random
import subprocess
import time

import pytest

BUCKET = "test-bucket"


def seed(fakegcs, objects):
    for name, data in objects.items():
        fakegcs.put(BUCKET, name, data)


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, timeout=120, **kw)


def walk(root):
    """All paths under root, relative, directories with a trailing slash."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            found.add(os.path.normpath(os.path.join(rel, d)) + "/")
        for f in filenames:
            found.add(os.path.normpath(os.path.join(rel, f)))
    return found


def test_ls_recursive_shows_files_placeholders_and_implicit_directories(fakegcs, mount):
    seed(fakegcs, {
        "top.txt": b"top\n",
        "dir/b.txt": b"b\n",
        "dir/sub/c.txt": b"c\n",
        "empty/": b"",
        "implicit/deep/x.bin": b"x",
    })
    m = mount()
    assert walk(m.path) == {
        "top.txt", "dir/", "dir/b.txt", "dir/sub/", "dir/sub/c.txt", "empty/",
        "implicit/", "implicit/deep/", "implicit/deep/x.bin",
    }
    out = run("ls", "-R", m.path).stdout.decode()
    assert "c.txt" in out and "x.bin" in out


def test_cat_and_stat_show_object_bytes_size_and_mtime(fakegcs, mount):
    fakegcs.put(BUCKET, "notes/a.txt", b"hello world\n",
                metadata={"goog-reserved-file-mtime": "1700000000"})
    fakegcs.put(BUCKET, "notes/b.txt", b"no mtime metadata")
    m = mount()
    assert run("cat", m.p("notes", "a.txt")).stdout == b"hello world\n"
    st = os.stat(m.p("notes", "a.txt"))
    assert st.st_size == 12
    assert st.st_mtime == 1700000000
    # Without POSIX metadata the mtime is the object's update time: recent.
    st_b = os.stat(m.p("notes", "b.txt"))
    assert abs(st_b.st_mtime - time.time()) < 300
    assert st_b.st_size == len(b"no mtime metadata")
    assert os.path.isdir(m.p("notes"))


def test_posix_mode_and_owner_metadata_are_shown(fakegcs, mount):
    fakegcs.put(BUCKET, "script.sh", b"#!/bin/sh\n", metadata={
        "goog-reserved-posix-mode": "750", "goog-reserved-posix-uid": "1234",
        "goog-reserved-posix-gid": "4321"})
    fakegcs.put(BUCKET, "plain", b"x")
    m = mount(args=["-o", "file_mode=600"])
    st = os.stat(m.p("script.sh"))
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o750, 1234, 4321)
    assert os.stat(m.p("plain")).st_mode & 0o7777 == 0o600


def test_50_mib_object_reads_back_with_identical_md5(fakegcs, mount):
    data = random.Random(1).randbytes(50 << 20)
    fakegcs.put(BUCKET, "big/blob.bin", data)
    m = mount()
    out = run("md5sum", m.p("big", "blob.bin")).stdout.decode().split()[0]
    assert out == hashlib.md5(data).hexdigest()


def test_reads_at_random_offsets_match_the_object(fakegcs, mount):
    data = random.Random(2).randbytes(6 << 20)
    fakegcs.put(BUCKET, "rand.bin", data)
    m = mount(args=["--cache-size-mb", "0"])
    rng = random.Random(3)
    with open(m.p("rand.bin"), "rb", buffering=0) as f:
        for _ in range(200):
            off = rng.randrange(0, len(data) + 100)
            n = rng.choice([1, 17, 4096, 65536, 300000])
            f.seek(off)
            assert f.read(n) == data[off:off + n], (off, n)


def test_directory_of_2500_objects_lists_completely(fakegcs, mount):
    names = [f"many/f{i:05d}" for i in range(2500)]
    for n in names:
        fakegcs.put(BUCKET, n, b"")
    m = mount(args=["-o", "list_parallel=1"])  # page after page
    fakegcs.clear_log()
    listed = os.listdir(m.p("many"))
    assert sorted(listed) == sorted(n.split("/")[1] for n in names)
    # 1,000 entries per page: three pages, and no request per entry.
    assert fakegcs.count("objects.list") <= 4
    assert fakegcs.count("objects.get") == 0


@pytest.mark.parametrize("name", [
    "with space.txt", "unicodé-日本.txt", "per%cent.txt", "plus+sign.txt", "hash#tag.txt",
    "question?.txt", "semi;colon&amp=.txt",
])
def test_object_names_with_special_characters_work(fakegcs, mount, name):
    fakegcs.put(BUCKET, "odd/" + name, name.encode())
    m = mount()
    assert name in os.listdir(m.p("odd"))
    with open(m.p("odd", name), "rb") as f:
        assert f.read() == name.encode()


def test_cp_copies_a_tree_out_of_the_mount(fakegcs, mount, tmp_path):
    tree = {f"proj/src/m{i}.py": f"print({i})\n".encode() for i in range(20)}
    tree["proj/data/big.bin"] = random.Random(4).randbytes(3 << 20 | 123)
    tree["proj/README"] = b"readme\n"
    seed(fakegcs, tree)
    m = mount()
    run("cp", "-r", m.p("proj"), str(tmp_path / "out"))
    for name, data in tree.items():
        with open(tmp_path / "out" / name.split("/", 1)[1], "rb") as f:
            assert f.read() == data


def test_ro_mount_refuses_every_change_with_erofs(fakegcs, mount):
    fakegcs.put(BUCKET, "f.txt", b"x")
    m = mount(args=["-o", "ro"])
    for action in (lambda: open(m.p("new.txt"), "w"), lambda: open(m.p("f.txt"), "a"),
                   lambda: os.mkdir(m.p("d")), lambda: os.unlink(m.p("f.txt")),
                   lambda: os.rename(m.p("f.txt"), m.p("g.txt")),
                   lambda: os.chmod(m.p("f.txt"), 0o600),
                   lambda: os.symlink("f.txt", m.p("l"))):
        with pytest.raises(OSError) as ei:
            action()
        assert ei.value.errno == errno.EROFS
    assert fakegcs.list(BUCKET) == ["f.txt"]
    assert fakegcs.get(BUCKET, "f.txt") == b"x"


def test_missing_file_is_enoent(fakegcs, mount):
    m = mount()
    with pytest.raises(FileNotFoundError):
        os.stat(m.p("nope.txt"))
    with pytest.raises(FileNotFoundError):
        open(m.p("no", "such", "dir.txt"))


def test_file_and_directory_of_one_name_show_the_directory(fakegcs, mount):
    fakegcs.put(BUCKET, "clash", b"file")
    fakegcs.put(BUCKET, "clash/inner.txt", b"inner")
    m = mount()
    assert os.listdir(m.path) == ["clash"]
    assert os.path.isdir(m.p("clash"))
    assert os.listdir(m.p("clash")) == ["inner.txt"]


def test_names_that_cannot_be_entries_are_left_out(fakegcs, mount):
    fakegcs.put(BUCKET, "ok/good.txt", b"g")
    fakegcs.put(BUCKET, "ok//double-slash.txt", b"d")
    fakegcs.put(BUCKET, "ok/" + "n" * 256, b"too long")
    m = mount()
    assert os.listdir(m.p("ok")) == ["good.txt"]
    with open(m.p("ok", "good.txt"), "rb") as f:
        assert f.read() == b"g"


def test_symlinks_in_gcsfuse_and_gcloud_forms_read_back(fakegcs, mount):
    fakegcs.put(BUCKET, "target.txt", b"pointed at")
    fakegcs.put(BUCKET, "new-style", b"target.txt",
                metadata={"goog-reserved-file-is-symlink": "true"})
    fakegcs.put(BUCKET, "old-style", b"", metadata={"gcsfuse_symlink_target": "target.txt"})
    m = mount()
    assert os.readlink(m.p("new-style")) == "target.txt"
    assert os.readlink(m.p("old-style")) == "target.txt"
    with open(m.p("new-style"), "rb") as f:
        assert f.read() == b"pointed at"


def test_transient_read_failures_are_retried_not_reported(fakegcs, mount):
    data = random.Random(5).randbytes(3 << 20)
    fakegcs.put(BUCKET, "flaky.bin", data)
    m = mount()
    m.expect_log(r"xml\.get flaky\.bin .*retry")
    os.stat(m.p("flaky.bin"))
    fakegcs.fault("xml.get", count=2, status=503)
    fakegcs.fault("xml.get", count=1, status=429)
    fakegcs.fault("xml.get", count=1, reset=True)
    fakegcs.fault("xml.get", count=1, cut_after=1000)
    with open(m.p("flaky.bin"), "rb") as f:
        assert f.read() == data
    assert sum(1 for e in fakegcs.log() if e["op"] == "xml.get") >= 6


def test_transient_listing_failures_are_retried(fakegcs, mount):
    fakegcs.put(BUCKET, "d/one", b"1")
    m = mount()
    m.expect_log(r"objects\.list .*retry")
    fakegcs.fault("objects.list", count=2, status=500)
    assert os.listdir(m.p("d")) == ["one"]


def test_reads_stay_pinned_to_the_generation_opened(fakegcs, mount):
    fakegcs.put(BUCKET, "v.txt", b"version one " * 700000)
    m = mount(args=["--cache-size-mb", "0"])
    m.expect_log(r"v\.txt: generation \d+ is gone")
    with open(m.p("v.txt"), "rb", buffering=0) as f:
        assert f.read(12) == b"version one "
        fakegcs.put(BUCKET, "v.txt", b"version two " * 700000)
        # Far past anything the kernel read ahead: this read must go to the server.
        f.seek(12 * 600000)
        with pytest.raises(OSError) as ei:
            f.read(100)
        assert ei.value.errno == errno.ESTALE


def test_missing_bucket_exits_nonzero_naming_the_bucket(fakegcs, tmp_path):
    from mounting import Mount
    (tmp_path / "mnt").mkdir()
    m = Mount(fakegcs.url, "no-such-bucket", tmp_path / "mnt", tmp_path / "log")
    res = subprocess.run(m.command(), capture_output=True, timeout=30)
    assert res.returncode != 0
    err = res.stderr.decode()
    assert "no-such-bucket" in err and "does not exist" in err
    assert not os.path.ismount(tmp_path / "mnt")


def test_unreachable_endpoint_exits_nonzero_promptly(tmp_path):
    from mounting import Mount
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "mnt").mkdir()
    m = Mount(f"http://127.0.0.1:{port}", BUCKET, tmp_path / "mnt", tmp_path / "log")
    t0 = time.monotonic()
    res = subprocess.run(m.command(), capture_output=True, timeout=60)
    assert res.returncode != 0
    assert f"127.0.0.1:{port}" in res.stderr.decode()
    assert "cannot reach" in res.stderr.decode()
    assert time.monotonic() - t0 < 20


def test_bad_options_are_rejected_by_name(fakegcs, tmp_path):
    from mounting import Mount
    m = Mount(fakegcs.url, BUCKET, tmp_path / "mnt", tmp_path / "log",
              args=["-o", "stat_ttl=5,frobnicate=1"])
    res = subprocess.run(m.command(), capture_output=True, timeout=30)
    assert res.returncode != 0
    assert "frobnicate" in res.stderr.decode()
    m = Mount(fakegcs.url, BUCKET, tmp_path / "mnt", tmp_path / "log",
              args=["-o", "stat_ttl=soon"])
    res = subprocess.run(m.command(), capture_output=True, timeout=30)
    assert res.returncode != 0
    assert "stat_ttl" in res.stderr.decode()


def test_storage_emulator_host_selects_the_endpoint(fakegcs, mount):
    fakegcs.put(BUCKET, "via-env.txt", b"env")
    hostport = fakegcs.url.split("://", 1)[1]
    m = mount(endpoint=None, env={"STORAGE_EMULATOR_HOST": hostport})
    with open(m.p("via-env.txt"), "rb") as f:
        assert f.read() == b"env"


def test_daemon_mode_returns_only_when_the_mount_is_usable(fakegcs, mount):
    fakegcs.put(BUCKET, "ready.txt", b"ready")
    m = mount(foreground=False)
    # No waiting: the command has returned, so the mount must answer now.
    with open(m.p("ready.txt"), "rb") as f:
        assert f.read() == b"ready"


def test_ls_l_after_listing_costs_no_per_entry_requests(fakegcs, mount):
    for i in range(50):
        fakegcs.put(BUCKET, f"l/f{i}", b"abc")
    m = mount()
    fakegcs.clear_log()
    out = run("ls", "-l", m.p("l")).stdout.decode()
    assert out.count(" 3 ") >= 50 or len(out.splitlines()) == 51
    assert fakegcs.count("objects.get") == 0
    assert fakegcs.count("objects.list") <= 2
