"""Writable mounts: every change made through the mount is checked in the bucket itself, through
the test server (object names, bytes, metadata keys, generations)."""
import errno
import hashlib
import os
import random
import signal
import subprocess
import time

import pytest

from settle import settle

BUCKET = "test-bucket"


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, timeout=300, **kw)


def objects(fakegcs):
    return sorted(fakegcs.list(BUCKET))


def metadata(fakegcs, name):
    return (fakegcs.stat(BUCKET, name) or {}).get("metadata", {})


def recovered_files(mount_obj):
    staging = mount_obj.args[mount_obj.args.index("--staging-dir") + 1]
    folder = os.path.join(staging, BUCKET, "recovered")
    return {f: open(os.path.join(folder, f), "rb").read() for f in os.listdir(folder)}


def test_new_file_lands_in_bucket_with_bytes_and_mtime(fakegcs, mount):
    m = mount()
    before = int(time.time())
    with open(m.p("hello.txt"), "wb") as f:
        f.write(b"hello bucket\n")
    settle(m)
    assert fakegcs.get(BUCKET, "hello.txt") == b"hello bucket\n"
    mtime = int(metadata(fakegcs, "hello.txt")["goog-reserved-file-mtime"])
    assert before - 1 <= mtime <= time.time() + 1
    # Small files go up in a single request.
    assert fakegcs.count("objects.insert") == 1
    assert fakegcs.count("uploads.chunk") == 0


def test_new_file_is_uploaded_with_if_generation_match_zero(fakegcs, mount):
    m = mount()
    fakegcs.clear_log()
    with open(m.p("new.bin"), "wb") as f:
        f.write(b"x" * 100)
    settle(m)
    inserts = [e for e in fakegcs.log() if e["op"] == "objects.insert"]
    assert [e["query"].get("ifGenerationMatch") for e in inserts] == ["0"]


def test_touch_creates_an_empty_object(fakegcs, mount):
    m = mount()
    run("touch", m.p("empty"))
    settle(m)
    assert fakegcs.get(BUCKET, "empty") == b""


def test_large_file_goes_up_in_resumable_chunks(fakegcs, mount):
    data = random.Random(7).randbytes((5 << 20) + 12345)
    m = mount(args=["-o", "upload_chunk_mb=1"])
    with open(m.p("big.bin"), "wb") as f:
        f.write(data)
    settle(m)
    assert fakegcs.get(BUCKET, "big.bin") == data
    assert fakegcs.count("uploads.chunk") >= 6
    assert fakegcs.stat(BUCKET, "big.bin")["crc32c"]


def test_overwrite_carries_the_generation_it_replaces(fakegcs, mount):
    old = fakegcs.put(BUCKET, "doc.txt", b"old contents")
    m = mount()
    fakegcs.clear_log()
    with open(m.p("doc.txt"), "wb") as f:
        f.write(b"new")
    settle(m)
    assert fakegcs.get(BUCKET, "doc.txt") == b"new"
    inserts = [e for e in fakegcs.log() if e["op"] == "objects.insert"]
    assert inserts[-1]["query"]["ifGenerationMatch"] == old["generation"]


def test_partial_overwrite_and_append_edit_an_existing_object(fakegcs, mount):
    fakegcs.put(BUCKET, "edit.txt", b"0123456789")
    m = mount()
    with open(m.p("edit.txt"), "r+b") as f:
        f.seek(3)
        f.write(b"abc")
    settle(m)
    assert fakegcs.get(BUCKET, "edit.txt") == b"012abc6789"
    with open(m.p("edit.txt"), "ab") as f:
        f.write(b"END")
    settle(m)
    assert fakegcs.get(BUCKET, "edit.txt") == b"012abc6789END"
    with open(m.p("edit.txt"), "rb") as f:
        assert f.read() == b"012abc6789END"


def test_existing_custom_metadata_survives_a_rewrite(fakegcs, mount):
    fakegcs.put(BUCKET, "keep.txt", b"v1", metadata={"owner-team": "data"},
                content_type="text/plain")
    m = mount()
    with open(m.p("keep.txt"), "wb") as f:
        f.write(b"v2")
    settle(m)
    st = fakegcs.stat(BUCKET, "keep.txt")
    assert st["metadata"]["owner-team"] == "data"
    assert st["contentType"] == "text/plain"


def test_truncate_by_path_and_by_descriptor(fakegcs, mount):
    fakegcs.put(BUCKET, "t1", b"abcdefgh")
    fakegcs.put(BUCKET, "t2", b"abcdefgh")
    m = mount()
    os.truncate(m.p("t1"), 3)
    settle(m)
    assert fakegcs.get(BUCKET, "t1") == b"abc"
    os.truncate(m.p("t1"), 5)
    settle(m)
    assert fakegcs.get(BUCKET, "t1") == b"abc\0\0"
    with open(m.p("t2"), "r+b") as f:
        f.truncate(2)
    settle(m)
    assert fakegcs.get(BUCKET, "t2") == b"ab"
    assert os.stat(m.p("t2")).st_size == 2
    with open(m.p("t2"), "w"):
        pass  # O_TRUNC alone empties the object
    settle(m)
    assert fakegcs.get(BUCKET, "t2") == b""


def test_new_file_is_listed_before_its_first_upload(fakegcs, mount):
    m = mount()
    with open(m.p("pending.txt"), "wb") as f:
        f.write(b"not yet uploaded")
        f.flush()
        assert "pending.txt" in os.listdir(m.path)
        assert os.stat(m.p("pending.txt")).st_size == len(b"not yet uploaded")
        assert fakegcs.stat(BUCKET, "pending.txt") is None
    settle(m)
    assert fakegcs.get(BUCKET, "pending.txt") == b"not yet uploaded"


def test_stat_and_read_see_new_content_right_after_close(fakegcs, mount):
    fakegcs.put(BUCKET, "c.txt", b"short")
    m = mount()
    assert open(m.p("c.txt"), "rb").read() == b"short"
    with open(m.p("c.txt"), "wb") as f:
        f.write(b"much longer content")
    assert os.stat(m.p("c.txt")).st_size == len(b"much longer content")
    assert open(m.p("c.txt"), "rb").read() == b"much longer content"


def test_second_mount_sees_a_change_after_its_ttl(fakegcs, mount):
    fakegcs.put(BUCKET, "shared.txt", b"first")
    writer = mount()
    reader = mount(args=["-o", "stat_ttl=1,negative_ttl=1"])
    assert open(reader.p("shared.txt"), "rb").read() == b"first"
    assert not os.path.exists(reader.p("later.txt"))
    with open(writer.p("shared.txt"), "wb") as f:
        f.write(b"second version")
    with open(writer.p("later.txt"), "wb") as f:
        f.write(b"new")
    settle(writer)
    time.sleep(1.5)
    assert open(reader.p("shared.txt"), "rb").read() == b"second version"
    assert open(reader.p("later.txt"), "rb").read() == b"new"


def test_unlink_deletes_the_object(fakegcs, mount):
    fakegcs.put(BUCKET, "gone.txt", b"x")
    fakegcs.put(BUCKET, "stay.txt", b"y")
    m = mount()
    os.unlink(m.p("gone.txt"))
    assert objects(fakegcs) == ["stay.txt"]
    assert not os.path.exists(m.p("gone.txt"))
    with pytest.raises(FileNotFoundError):
        os.unlink(m.p("gone.txt"))


def test_file_unlinked_while_open_is_not_uploaded_on_close(fakegcs, mount):
    m = mount()
    f = open(m.p("tmp.txt"), "wb")
    f.write(b"scratch")
    f.flush()
    os.unlink(m.p("tmp.txt"))
    f.close()
    settle(m)
    assert objects(fakegcs) == []


def test_mkdir_writes_a_placeholder_and_rmdir_removes_it(fakegcs, mount):
    m = mount()
    os.mkdir(m.p("newdir"))
    assert objects(fakegcs) == ["newdir/"]
    assert os.path.isdir(m.p("newdir"))
    with pytest.raises(FileExistsError):
        os.mkdir(m.p("newdir"))
    os.rmdir(m.p("newdir"))
    assert objects(fakegcs) == []


def test_mkdir_mode_is_stored(fakegcs, mount):
    m = mount()
    os.mkdir(m.p("private"), 0o700)
    assert metadata(fakegcs, "private/")["goog-reserved-posix-mode"] == "700"
    assert os.stat(m.p("private")).st_mode & 0o777 == 0o700


def test_rmdir_of_a_non_empty_directory_is_enotempty(fakegcs, mount):
    fakegcs.put(BUCKET, "full/", b"")
    fakegcs.put(BUCKET, "full/file", b"x")
    fakegcs.put(BUCKET, "implicit/file", b"x")
    m = mount()
    for d in ("full", "implicit"):
        with pytest.raises(OSError) as ei:
            os.rmdir(m.p(d))
        assert ei.value.errno == errno.ENOTEMPTY
    assert objects(fakegcs) == ["full/", "full/file", "implicit/file"]


def test_rename_of_a_file_is_one_atomic_move(fakegcs, mount):
    fakegcs.put(BUCKET, "a.txt", b"contents", metadata={"goog-reserved-posix-mode": "600"})
    m = mount()
    fakegcs.clear_log()
    os.rename(m.p("a.txt"), m.p("b.txt"))
    assert objects(fakegcs) == ["b.txt"]
    assert fakegcs.get(BUCKET, "b.txt") == b"contents"
    assert metadata(fakegcs, "b.txt")["goog-reserved-posix-mode"] == "600"
    assert fakegcs.count("objects.move") == 1
    assert open(m.p("b.txt"), "rb").read() == b"contents"
    assert not os.path.exists(m.p("a.txt"))


def test_rename_over_an_existing_file_replaces_it(fakegcs, mount):
    fakegcs.put(BUCKET, "src", b"new")
    fakegcs.put(BUCKET, "dst", b"old")
    m = mount()
    os.rename(m.p("src"), m.p("dst"))
    assert objects(fakegcs) == ["dst"]
    assert fakegcs.get(BUCKET, "dst") == b"new"


def test_rename_of_an_open_file_with_unsaved_writes_carries_them(fakegcs, mount):
    m = mount()
    with open(m.p("draft"), "wb") as f:
        f.write(b"written before rename")
        f.flush()
        os.rename(m.p("draft"), m.p("final"))
        f.write(b" and after")
    settle(m)
    assert objects(fakegcs) == ["final"]
    assert fakegcs.get(BUCKET, "final") == b"written before rename and after"


def test_rename_of_a_directory_moves_every_object_under_it(fakegcs, mount):
    for name in ("proj/", "proj/a", "proj/sub/b", "proj/sub/deep/c", "projx"):
        fakegcs.put(BUCKET, name, name.encode())
    m = mount()
    os.rename(m.p("proj"), m.p("renamed"))
    assert objects(fakegcs) == ["projx", "renamed/", "renamed/a", "renamed/sub/b",
                                "renamed/sub/deep/c"]
    assert fakegcs.get(BUCKET, "renamed/sub/deep/c") == b"proj/sub/deep/c"
    assert open(m.p("renamed", "sub", "deep", "c"), "rb").read() == b"proj/sub/deep/c"
    assert not os.path.exists(m.p("proj"))


def test_directory_rename_past_the_limit_is_exdev_and_mv_copies(fakegcs, mount):
    for i in range(3):
        fakegcs.put(BUCKET, f"many/f{i}", str(i).encode())
    m = mount(args=["-o", "rename_dir_limit=2"])
    with pytest.raises(OSError) as ei:
        os.rename(m.p("many"), m.p("moved"))
    assert ei.value.errno == errno.EXDEV
    run("mv", m.p("many"), m.p("moved"))
    assert objects(fakegcs) == ["moved/", "moved/f0", "moved/f1", "moved/f2"]


def test_symlink_is_stored_in_both_interoperable_forms(fakegcs, mount):
    m = mount()
    os.symlink("target/path.txt", m.p("link"))
    assert fakegcs.get(BUCKET, "link") == b"target/path.txt"
    md = metadata(fakegcs, "link")
    assert md["goog-reserved-file-is-symlink"] == "true"
    assert md["gcsfuse_symlink_target"] == "target/path.txt"
    assert os.readlink(m.p("link")) == "target/path.txt"


def test_chmod_chown_and_utime_patch_metadata_without_new_data(fakegcs, mount):
    before = fakegcs.put(BUCKET, "attrs.txt", b"data")
    m = mount()
    os.chmod(m.p("attrs.txt"), 0o751)
    os.chown(m.p("attrs.txt"), 1234, 5678)
    os.utime(m.p("attrs.txt"), (1600000000, 1600000000))
    after = fakegcs.stat(BUCKET, "attrs.txt")
    assert after["generation"] == before["generation"]
    assert int(after["metageneration"]) > int(before["metageneration"])
    md = after["metadata"]
    assert md["goog-reserved-posix-mode"] == "751"
    assert (md["goog-reserved-posix-uid"], md["goog-reserved-posix-gid"]) == ("1234", "5678")
    assert md["goog-reserved-file-mtime"] == "1600000000"
    st = os.stat(m.p("attrs.txt"))
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid, st.st_mtime) == (0o751, 1234, 5678,
                                                                       1600000000)
    assert fakegcs.count("objects.insert") == 0


def test_chmod_of_an_implicit_directory_creates_its_placeholder(fakegcs, mount):
    fakegcs.put(BUCKET, "imp/file", b"x")
    m = mount()
    os.chmod(m.p("imp"), 0o700)
    assert metadata(fakegcs, "imp/")["goog-reserved-posix-mode"] == "700"


def test_conflicting_writer_gets_estale_and_the_data_is_recovered(fakegcs, mount):
    fakegcs.put(BUCKET, "contested.txt", b"original")
    m = mount()
    m.expect_log(r"contested\.txt: not uploaded: the object was changed by someone else")
    f = open(m.p("contested.txt"), "r+b")
    f.write(b"MINE")
    fakegcs.put(BUCKET, "contested.txt", b"someone else's version")
    f.flush()
    # fsync uploads at once in either mode (close does only with upload_on_close=wait).
    with pytest.raises(OSError) as ei:
        os.fsync(f.fileno())
    assert ei.value.errno == errno.ESTALE
    f.close()
    # The other writer's version stands, and ours is kept where the log says.
    assert fakegcs.get(BUCKET, "contested.txt") == b"someone else's version"
    saved = recovered_files(m)
    assert list(saved.values()) == [b"MINEinal"]
    name = next(iter(saved))
    assert "contested.txt" in name and name in m.log()


def test_transient_upload_failures_are_retried_to_success(fakegcs, mount):
    data = random.Random(8).randbytes(3 << 20)
    m = mount(args=["-o", "upload_chunk_mb=1"])
    m.expect_log(r"uploads\.chunk .*retry")
    fakegcs.fault("uploads.chunk", count=2, status=503)
    fakegcs.fault("uploads.chunk", count=1, reset=True)
    with open(m.p("retried.bin"), "wb") as f:
        f.write(data)
    settle(m)
    assert fakegcs.get(BUCKET, "retried.bin") == data


def test_lost_upload_answer_is_not_mistaken_for_a_conflict(fakegcs, mount):
    m = mount()
    m.expect_log(r"objects\.insert .*retry")
    # The server stores the object but the answer never arrives; the retry then meets
    # ifGenerationMatch=0 against our own object.
    fakegcs.fault("objects.insert", count=1, reset=True, after=True)
    with open(m.p("once.txt"), "wb") as f:
        f.write(b"exactly once")
    settle(m)
    assert fakegcs.get(BUCKET, "once.txt") == b"exactly once"
    assert recovered_files(m) == {}


def test_failed_upload_returns_eio_and_keeps_the_data(fakegcs, mount):
    m = mount(args=["-o", "max_retries=1"])
    m.expect_log(r"objects\.insert")
    m.expect_log(r"doomed\.txt: upload failed")
    fakegcs.fault("objects.insert", count=1000, status=500)
    f = open(m.p("doomed.txt"), "wb")
    f.write(b"precious data")
    f.flush()
    with pytest.raises(OSError) as ei:
        os.fsync(f.fileno())
    assert ei.value.errno == errno.EIO
    try:
        f.close()
    except OSError as e:  # with upload_on_close=wait, close tries and fails the same way
        assert e.errno == errno.EIO
    # The last close tries once more, then keeps the data in the recovery folder.
    deadline = time.time() + 20
    while not recovered_files(m) and time.time() < deadline:
        time.sleep(0.1)
    fakegcs.clear_faults()
    assert fakegcs.stat(BUCKET, "doomed.txt") is None
    assert list(recovered_files(m).values()) == [b"precious data"]


def test_full_staging_area_gives_enospc(fakegcs, mount, tmp_path):
    staging = tmp_path / "tiny"
    staging.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(staging)], check=True)
    try:
        m = mount(args=["--staging-dir", str(staging)])
        m.expect_log(r"staging area is full")
        f = open(m.p("huge.bin"), "wb", buffering=0)
        with pytest.raises(OSError) as ei:
            for _ in range(4):
                f.write(b"z" * (1 << 20))
        assert ei.value.errno == errno.ENOSPC
        f.close()
    finally:
        m.stop()
        subprocess.run(["umount", "-l", str(staging)])


def test_names_gcs_cannot_store_are_refused(fakegcs, mount):
    m = mount()
    long_dir = m.p(*(["d" * 200] * 4))
    os.makedirs(long_dir)
    with pytest.raises(OSError) as ei:
        open(os.path.join(long_dir, "x" * 250), "wb")
    assert ei.value.errno == errno.ENAMETOOLONG
    with pytest.raises(OSError) as ei:
        open(m.p("line\nfeed"), "wb")
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        os.mkdir(m.p("carriage\rreturn"))
    assert ei.value.errno == errno.EINVAL
    assert all("\n" not in o and "\r" not in o for o in objects(fakegcs))


def stop_with_a_signal_after_writing(fakegcs, m, sig):
    f = open(m.p("last-words.txt"), "wb")
    f.write(b"written, never closed")
    f.flush()
    m.proc.send_signal(sig)
    m.proc.wait(timeout=30)
    try:
        f.close()
    except OSError:
        pass
    assert fakegcs.get(BUCKET, "last-words.txt") == b"written, never closed"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_uploads_data_written_just_before(fakegcs, mount, sig):
    stop_with_a_signal_after_writing(fakegcs, mount(), sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("how", ["ignored", "blocked"])
def test_a_stop_signal_works_when_the_daemon_inherits_it_ignored_or_blocked(fakegcs, mount, sig,
                                                                              how):
    # A shell without job control starts `gcsmount -f ... &` with SIGINT ignored; ignored
    # signals and the blocked mask both survive exec.
    if how == "ignored":
        previous = signal.signal(sig, signal.SIG_IGN)
    else:
        signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
    try:
        m = mount()
    finally:
        if how == "ignored":
            signal.signal(sig, previous)
        else:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    stop_with_a_signal_after_writing(fakegcs, m, sig)


def test_lazy_unmount_uploads_data_of_a_file_still_open(fakegcs, mount):
    m = mount()
    # libfuse reports the kernel ending the connection as the mount goes away.
    m.expect_log(r"fuse: reading device: Software caused connection abort")
    f = open(m.p("open-at-unmount.txt"), "wb")
    f.write(b"still open when unmounted")
    f.flush()
    subprocess.run(["fusermount3", "-u", "-z", m.path], check=True)
    try:
        f.close()
    except OSError:
        pass  # the filesystem may be gone already: it uploaded on its way out
    m.proc.wait(timeout=30)
    assert fakegcs.get(BUCKET, "open-at-unmount.txt") == b"still open when unmounted"


def test_cp_r_then_diff_r_matches(fakegcs, mount, tmp_path):
    src = tmp_path / "tree"
    rng = random.Random(9)
    for d in ("a", "a/b", "c"):
        (src / d).mkdir(parents=True)
    for i, d in enumerate(["", "a", "a/b", "c"] * 3):
        (src / d / f"f{i}.bin").write_bytes(rng.randbytes(rng.choice([0, 10, 5000, 300000])))
    m = mount()
    run("cp", "-r", str(src), m.p("tree"))
    run("diff", "-r", str(src), m.p("tree"))
    settle(m)
    for path in src.rglob("*"):
        if path.is_file():
            rel = "tree/" + str(path.relative_to(src))
            assert fakegcs.get(BUCKET, rel) == path.read_bytes()


def test_mv_and_rm_r(fakegcs, mount):
    m = mount()
    os.makedirs(m.p("work", "sub"))
    for name in ("work/one", "work/sub/two"):
        with open(m.p(*name.split("/")), "wb") as f:
            f.write(name.encode())
    run("mv", m.p("work", "one"), m.p("one-moved"))
    run("mv", m.p("work"), m.p("work2"))
    settle(m)
    assert objects(fakegcs) == ["one-moved", "work2/", "work2/sub/", "work2/sub/two"]
    run("rm", "-r", m.p("work2"))
    assert objects(fakegcs) == ["one-moved"]


def test_tar_extracts_into_the_mount(fakegcs, mount, tmp_path):
    src = tmp_path / "src"
    (src / "pkg" / "lib").mkdir(parents=True)
    (src / "pkg" / "README").write_text("read me\n")
    (src / "pkg" / "lib" / "code.py").write_text("print('hi')\n")
    (src / "pkg" / "lib" / "blob").write_bytes(random.Random(10).randbytes(200000))
    os.symlink("lib/code.py", src / "pkg" / "entry")
    archive = tmp_path / "pkg.tar"
    run("tar", "-C", str(src), "-cf", str(archive), "pkg")
    m = mount()
    run("tar", "-C", m.path, "-xf", str(archive))
    run("diff", "-r", "--no-dereference", str(src / "pkg"), m.p("pkg"))
    assert os.readlink(m.p("pkg", "entry")) == "lib/code.py"


def test_git_init_add_commit_in_the_mount(fakegcs, mount):
    m = mount()
    repo = m.p("repo")
    os.mkdir(repo)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com", HOME=repo)
    run("git", "init", "-q", repo, env=env)
    with open(os.path.join(repo, "notes.md"), "w") as f:
        f.write("# notes\n")
    run("git", "-C", repo, "add", "notes.md", env=env)
    run("git", "-C", repo, "commit", "-q", "-m", "first", env=env)
    log = run("git", "-C", repo, "log", "--oneline", env=env).stdout.decode()
    assert "first" in log
    status = run("git", "-C", repo, "status", "--porcelain", env=env).stdout.decode()
    assert status == ""
    settle(m)
    assert any(o.startswith("repo/.git/objects/") for o in objects(fakegcs))


def test_python_200_mib_file_seek_write_read(fakegcs, mount):
    rng = random.Random(11)
    size = 200 << 20
    block = rng.randbytes(1 << 20)
    m = mount()
    path = m.p("model.ckpt")
    expected = bytearray()
    with open(path, "wb") as f:
        for i in range(200):
            chunk = bytes([i]) + block[1:]
            f.write(chunk)
            expected += chunk
    with open(path, "r+b") as f:
        for off in (0, 5 << 20, size - 10, 123456789):
            f.seek(off)
            f.write(b"PATCHED!!!")
            expected[off:off + 10] = b"PATCHED!!!"
        f.seek(123456780)
        assert f.read(30) == bytes(expected[123456780:123456810])
    assert os.stat(path).st_size == size
    settle(m)
    got = fakegcs.get(BUCKET, "model.ckpt")
    assert hashlib.md5(got).hexdigest() == hashlib.md5(expected).hexdigest()
    with open(path, "rb") as f:
        f.seek(size - 20)
        assert f.read() == bytes(expected[-20:])


def test_sequential_writer_uploads_chunks_while_it_writes(fakegcs, mount):
    data = random.Random(12).randbytes((5 << 20) + 777)
    m = mount(args=["-o", "upload_chunk_mb=1"])
    with open(m.p("stream.bin"), "wb", buffering=0) as f:
        for off in range(0, 4 << 20, 256 << 10):
            f.write(data[off:off + (256 << 10)])
        # Most of it is on its way before the file is closed, and nothing is an object yet.
        assert fakegcs.count("uploads.chunk") >= 3
        assert fakegcs.stat(BUCKET, "stream.bin") is None
        f.write(data[4 << 20:])
    settle(m)
    assert fakegcs.get(BUCKET, "stream.bin") == data
    assert fakegcs.count("uploads.cancel") == 0
    # The staged copy was only a safety net: one session, no second whole upload.
    assert fakegcs.count("objects.insert") == 1


def test_streaming_writer_that_seeks_falls_back_to_a_whole_upload(fakegcs, mount):
    data = bytearray(random.Random(13).randbytes(4 << 20))
    m = mount(args=["-o", "upload_chunk_mb=1"])
    with open(m.p("seeky.bin"), "wb", buffering=0) as f:
        f.write(data[:3 << 20])
        assert fakegcs.count("uploads.chunk") >= 1
        f.seek(10)
        f.write(b"REWRITTEN")
        data[10:19] = b"REWRITTEN"
        f.seek(3 << 20)
        f.write(data[3 << 20:])
    settle(m)
    assert fakegcs.get(BUCKET, "seeky.bin") == bytes(data)
    assert fakegcs.count("uploads.cancel") == 1


def test_streaming_conflict_returns_estale_and_keeps_every_byte(fakegcs, mount):
    data = random.Random(14).randbytes(3 << 20)
    m = mount(args=["-o", "upload_chunk_mb=1"])
    m.expect_log(r"race\.bin: not uploaded: the object was changed by someone else")
    f = open(m.p("race.bin"), "wb", buffering=0)
    f.write(data)
    assert fakegcs.count("uploads.chunk") >= 1
    fakegcs.put(BUCKET, "race.bin", b"the other writer")
    with pytest.raises(OSError) as ei:
        os.fsync(f.fileno())
    assert ei.value.errno == errno.ESTALE
    f.close()
    assert fakegcs.get(BUCKET, "race.bin") == b"the other writer"
    assert list(recovered_files(m).values()) == [data]
