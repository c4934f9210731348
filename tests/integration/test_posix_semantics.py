"""POSIX semantics of a local filesystem, as the Linux man pages give them: special files,
hard links, permission rules, timestamps, ownership of new entries and rename edge cases.

Permission tests mount with allow_other (which implies default_permissions) on a mount point
every user may reach, and act as other users through subprocesses with their own uid, gid and
groups, as a shell of that user would."""
import errno
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from mounting import Mount
from settle import settle

BUCKET = "test-bucket"
ALICE, BOB, STAFF = 1001, 1002, 1500


@pytest.fixture
def shared_mount(fakegcs, tmp_path):
    """mount(args=...) on a mount point that every user may reach; unmounted afterwards."""
    mounts = []
    top = tempfile.mkdtemp(prefix="gcsmount-posix-")
    os.chmod(top, 0o755)

    def make(args=()):
        i = len(mounts)
        m = Mount(fakegcs.url, BUCKET, os.path.join(top, f"mnt{i}"),
                  tmp_path / f"gcsmount{i}.log",
                  args=["--staging-dir", str(tmp_path / f"staging{i}"), "-o", "allow_other"]
                  + list(args))
        mounts.append(m)
        return m.start()

    yield make
    for m in mounts:
        m.stop()
    shutil.rmtree(top, ignore_errors=True)
    bad = [line for m in mounts for line in m.unexpected_log_lines()]
    if bad:
        pytest.fail("gcsmount logged errors the test did not expect:\n" + "\n".join(bad))


def as_user(uid, code, gid=None, groups=(), **env):
    """Runs Python code as another user; returns (errno or 0, stdout)."""
    wrapper = ("import os, sys, errno\n"
               "try:\n" + "".join("    " + l + "\n" for l in code.strip().splitlines()) +
               "except OSError as e:\n    print(e, file=sys.stderr); sys.exit(100 + e.errno)\n")
    res = subprocess.run([sys.executable, "-c", wrapper], user=uid,
                         group=gid if gid is not None else uid, extra_groups=list(groups),
                         capture_output=True, timeout=60, cwd="/", env={**os.environ, **env})
    if res.returncode not in (0,) and res.returncode < 100:
        raise AssertionError(res.stderr.decode())
    return (res.returncode - 100 if res.returncode else 0), res.stdout.decode()


def meta(fakegcs, name):
    return (fakegcs.stat(BUCKET, name) or {}).get("metadata", {})


# 1. Special files


def test_fifo_is_stored_listed_and_usable_as_a_pipe(fakegcs, shared_mount):
    m = shared_mount()
    os.mkfifo(m.p("pipe"), 0o640)
    st = os.lstat(m.p("pipe"))
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    assert os.listdir(m.path) == ["pipe"]
    assert fakegcs.get(BUCKET, "pipe") == b""
    got = []
    reader = threading.Thread(target=lambda: got.append(open(m.p("pipe"), "rb").read()))
    reader.start()
    with open(m.p("pipe"), "wb") as f:
        f.write(b"through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"]
    m.stop()
    m2 = shared_mount()
    assert stat.S_ISFIFO(os.lstat(m2.p("pipe")).st_mode)


def test_device_nodes_keep_type_and_device_number(fakegcs, shared_mount):
    m = shared_mount()
    old_umask = os.umask(0)
    try:
        os.mknod(m.p("null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(m.p("disk"), stat.S_IFBLK | 0o600, os.makedev(8, 17))
    finally:
        os.umask(old_umask)
    m.stop()
    m2 = shared_mount()
    c, b = os.lstat(m2.p("null")), os.lstat(m2.p("disk"))
    assert stat.S_ISCHR(c.st_mode) and c.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(c.st_mode) == 0o666
    assert stat.S_ISBLK(b.st_mode) and b.st_rdev == os.makedev(8, 17)


def test_socket_bind_creates_a_socket_entry(fakegcs, shared_mount):
    m = shared_mount()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(m.p("sock"))
        assert stat.S_ISSOCK(os.lstat(m.p("sock")).st_mode)


def test_special_files_rename_chmod_chown_and_unlink_like_files(fakegcs, shared_mount):
    m = shared_mount()
    os.mkfifo(m.p("f1"), 0o600)
    os.rename(m.p("f1"), m.p("f2"))
    os.chmod(m.p("f2"), 0o644)
    os.chown(m.p("f2"), ALICE, ALICE)
    st = os.lstat(m.p("f2"))
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    assert (st.st_uid, st.st_gid) == (ALICE, ALICE)
    assert sorted(fakegcs.list(BUCKET)) == ["f2"]
    os.unlink(m.p("f2"))
    assert fakegcs.list(BUCKET) == []


# 2. Hard links


def test_hard_link_fails_with_eperm_and_leaves_nothing(fakegcs, shared_mount):
    m = shared_mount()
    with open(m.p("a"), "w") as f:
        f.write("x")
    with pytest.raises(OSError) as e:
        os.link(m.p("a"), m.p("b"))
    assert e.value.errno == errno.EPERM
    assert sorted(os.listdir(m.path)) == ["a"]
    settle(m)
    assert sorted(fakegcs.list(BUCKET)) == ["a"]


# 3. Permission rules


def test_only_the_owner_may_chmod(fakegcs, shared_mount):
    m = shared_mount()
    with open(m.p("f"), "w"):
        pass
    os.chown(m.p("f"), ALICE, ALICE)
    assert as_user(BOB, f"os.chmod({m.p('f')!r}, 0o600)")[0] == errno.EPERM
    assert as_user(ALICE, f"os.chmod({m.p('f')!r}, 0o600)")[0] == 0
    assert stat.S_IMODE(os.stat(m.p("f")).st_mode) == 0o600


def test_chown_rules_for_owner_and_root(fakegcs, shared_mount):
    m = shared_mount()
    with open(m.p("f"), "w"):
        pass
    os.chown(m.p("f"), ALICE, ALICE)
    assert as_user(ALICE, f"os.chown({m.p('f')!r}, {BOB}, -1)")[0] == errno.EPERM
    assert as_user(ALICE, f"os.chown({m.p('f')!r}, -1, {STAFF})")[0] == errno.EPERM
    assert as_user(ALICE, f"os.chown({m.p('f')!r}, -1, {STAFF})", groups=[STAFF])[0] == 0
    assert os.stat(m.p("f")).st_gid == STAFF
    os.chown(m.p("f"), BOB, BOB)
    assert (os.stat(m.p("f")).st_uid, os.stat(m.p("f")).st_gid) == (BOB, BOB)
    assert meta(fakegcs, "f")["goog-reserved-posix-uid"] == str(BOB)


def test_write_and_chown_clear_set_user_and_group_id(fakegcs, shared_mount):
    m = shared_mount()
    with open(m.p("prog"), "w"):
        pass
    os.chown(m.p("prog"), ALICE, ALICE)
    os.chmod(m.p("prog"), 0o6775)
    assert stat.S_IMODE(os.stat(m.p("prog")).st_mode) == 0o6775
    assert as_user(ALICE, f"open({m.p('prog')!r}, 'a').write('x')")[0] == 0
    assert stat.S_IMODE(os.stat(m.p("prog")).st_mode) == 0o0775
    os.chmod(m.p("prog"), 0o6775)
    os.chown(m.p("prog"), BOB, BOB)
    assert stat.S_IMODE(os.stat(m.p("prog")).st_mode) & 0o6000 == 0


def test_sticky_directory_protects_other_users_entries(fakegcs, shared_mount):
    m = shared_mount()
    os.mkdir(m.p("tmp"))
    os.chmod(m.p("tmp"), 0o1777)
    assert stat.S_IMODE(os.stat(m.p("tmp")).st_mode) == 0o1777
    assert as_user(ALICE, f"open({m.p('tmp', 'mine')!r}, 'w').write('a')")[0] == 0
    assert os.stat(m.p("tmp", "mine")).st_uid == ALICE
    assert as_user(BOB, f"os.unlink({m.p('tmp', 'mine')!r})")[0] == errno.EPERM
    assert as_user(BOB, f"os.rename({m.p('tmp', 'mine')!r}, {m.p('tmp', 'b')!r})")[0] \
        == errno.EPERM
    assert as_user(ALICE, f"os.unlink({m.p('tmp', 'mine')!r})")[0] == 0
    assert fakegcs.list(BUCKET) == ["tmp/"]


def test_create_exclusive_and_truncate_obey_permissions(fakegcs, shared_mount):
    m = shared_mount()
    os.mkdir(m.p("ro"))
    os.chmod(m.p("ro"), 0o755)
    with open(m.p("ro", "file"), "w") as f:
        f.write("root's")
    os.chmod(m.p("ro", "file"), 0o644)
    flags = "os.O_CREAT | os.O_EXCL | os.O_WRONLY"
    assert as_user(ALICE, f"os.open({m.p('ro', 'file')!r}, {flags})")[0] == errno.EEXIST
    assert as_user(ALICE, f"os.open({m.p('ro', 'new')!r}, {flags})")[0] == errno.EACCES
    assert as_user(ALICE, f"os.open({m.p('ro', 'file')!r}, os.O_WRONLY | os.O_TRUNC)")[0] \
        == errno.EACCES
    assert fakegcs.get(BUCKET, "ro/file") == b"root's"
    assert sorted(fakegcs.list(BUCKET)) == ["ro/", "ro/file"]


def test_allow_other_alone_keeps_other_users_out_of_private_files(fakegcs, shared_mount):
    m = shared_mount()
    with open(m.p("secret"), "w") as f:
        f.write("root only")
    os.chmod(m.p("secret"), 0o600)
    assert as_user(ALICE, f"open({m.p('secret')!r}).read()")[0] == errno.EACCES
    assert as_user(ALICE, f"open({m.p('secret')!r}, 'w').write('x')")[0] == errno.EACCES
    assert fakegcs.get(BUCKET, "secret") == b"root only"


# 4. Timestamps


def test_utimensat_keeps_nanoseconds_across_remount(fakegcs, shared_mount):
    m = shared_mount()
    with open(m.p("f"), "w"):
        pass
    os.utime(m.p("f"), ns=(1_600_000_000_123_456_789, 1_700_000_000_987_654_321))
    assert os.stat(m.p("f")).st_mtime_ns == 1_700_000_000_987_654_321
    m.stop()
    m2 = shared_mount()
    assert os.stat(m2.p("f")).st_mtime_ns == 1_700_000_000_987_654_321


def test_utime_now_and_omit(fakegcs, shared_mount):
    m = shared_mount()
    with open(m.p("f"), "w"):
        pass
    os.utime(m.p("f"), ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = time.time_ns()
    # atime set to now, mtime left alone (UTIME_NOW / UTIME_OMIT through touch -a).
    subprocess.run(["touch", "-a", m.p("f")], check=True)
    assert os.stat(m.p("f")).st_mtime_ns == 1_000_000_000_000_000_000
    subprocess.run(["touch", "-m", m.p("f")], check=True)
    assert os.stat(m.p("f")).st_mtime_ns >= before - 1_000_000_000


def test_ctime_follows_every_change_and_mtime_only_data(fakegcs, shared_mount):
    m = shared_mount()
    with open(m.p("f"), "w") as f:
        f.write("1")
    st0 = os.stat(m.p("f"))
    time.sleep(1.1)
    os.chmod(m.p("f"), 0o600)
    st1 = os.stat(m.p("f"))
    assert st1.st_ctime_ns > st0.st_ctime_ns
    assert st1.st_mtime_ns == st0.st_mtime_ns
    time.sleep(1.1)
    with open(m.p("f"), "a") as f:
        f.write("2")
    st2 = os.stat(m.p("f"))
    assert st2.st_mtime_ns > st1.st_mtime_ns and st2.st_ctime_ns > st1.st_ctime_ns


def test_open_with_o_trunc_sets_mtime(fakegcs, shared_mount):
    fakegcs.put(BUCKET, "old", b"content", metadata={"goog-reserved-file-mtime": "1000000000"})
    m = shared_mount()
    before = time.time()
    os.close(os.open(m.p("old"), os.O_WRONLY | os.O_TRUNC))
    assert os.stat(m.p("old")).st_mtime >= before - 1
    settle(m)
    assert fakegcs.get(BUCKET, "old") == b""
    assert int(meta(fakegcs, "old")["goog-reserved-file-mtime"]) >= before - 1


def test_directory_times_change_when_entries_come_and_go(fakegcs, shared_mount):
    m = shared_mount()
    os.mkdir(m.p("d"))
    os.utime(m.p("d"), (1_000_000_000, 1_000_000_000))
    st0 = os.stat(m.p("d"))
    with open(m.p("d", "x"), "w"):
        pass
    st1 = os.stat(m.p("d"))
    assert st1.st_mtime > st0.st_mtime and st1.st_ctime >= st0.st_ctime
    os.utime(m.p("d"), (1_000_000_000, 1_000_000_000))
    os.unlink(m.p("d", "x"))
    assert os.stat(m.p("d")).st_mtime > 1_000_000_000


# 5. Rename edge cases


def test_rename_edge_cases_give_the_errors_rename2_documents(fakegcs, shared_mount):
    m = shared_mount()
    os.makedirs(m.p("full", "sub"))
    os.mkdir(m.p("empty"))
    os.mkdir(m.p("src"))
    with open(m.p("src", "a"), "w") as f:
        f.write("a")
    with open(m.p("file"), "w") as f:
        f.write("f")

    def err(a, b):
        try:
            os.rename(m.p(*a), m.p(*b))
        except OSError as e:
            return e.errno
        return 0

    assert err(["src"], ["full"]) == errno.ENOTEMPTY
    assert err(["src"], ["file"]) == errno.ENOTDIR
    assert err(["file"], ["empty"]) == errno.EISDIR
    assert err(["src"], ["src", "inner"]) == errno.EINVAL
    assert err(["file"], ["file"]) == 0
    assert err(["src"], ["src"]) == 0
    assert err(["src"], ["empty"]) == 0
    assert open(m.p("empty", "a")).read() == "a"
    assert not os.path.exists(m.p("src"))
    assert sorted(fakegcs.list(BUCKET)) == ["empty/", "empty/a", "file", "full/", "full/sub/"]


# 7. Ownership and modes of new entries


def test_the_mount_root_takes_chmod_and_chown_for_the_life_of_the_mount(fakegcs,
                                                                        shared_mount):
    m = shared_mount()
    os.chmod(m.path, 0o1777)
    os.chown(m.path, ALICE, STAFF)
    st = os.stat(m.path)
    assert stat.S_IMODE(st.st_mode) == 0o1777 and (st.st_uid, st.st_gid) == (ALICE, STAFF)
    assert as_user(BOB, f"open({m.p('b')!r}, 'w').write('b')")[0] == 0
    assert os.stat(m.p("b")).st_uid == BOB


def test_new_entries_belong_to_the_caller_and_keep_special_bits(fakegcs, shared_mount):
    m = shared_mount()
    os.mkdir(m.p("pub"))
    os.chmod(m.p("pub"), 0o777)
    code = (f"open({m.p('pub', 'af')!r}, 'w').write('a')\n"
            f"os.mkdir({m.p('pub', 'ad')!r}, 0o1777)\n"
            f"os.chmod({m.p('pub', 'ad')!r}, 0o1777)\n"
            f"os.symlink('af', {m.p('pub', 'al')!r})\n")
    assert as_user(ALICE, code, gid=STAFF)[0] == 0
    for name in ("af", "ad", "al"):
        st = os.lstat(m.p("pub", name))
        assert (st.st_uid, st.st_gid) == (ALICE, STAFF), name
    assert stat.S_IMODE(os.stat(m.p("pub", "ad")).st_mode) == 0o1777
    m.stop()
    m2 = shared_mount()
    for name in ("af", "ad", "al"):
        st = os.lstat(m2.p("pub", name))
        assert (st.st_uid, st.st_gid) == (ALICE, STAFF), name
    assert stat.S_IMODE(os.stat(m2.p("pub", "ad")).st_mode) == 0o1777
    assert meta(fakegcs, "pub/af")["goog-reserved-posix-uid"] == str(ALICE)
