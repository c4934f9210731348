"""Mounting like a native tool: fstab lines through mount(8) and the mount.gcsmount helper,
mounts by users other than root, `meson install`, and the installed Debian package (the last
only under tools/check-deb, which installs it first)."""
import errno
import os
import pwd
import re
import shutil
import stat
import subprocess
import time

import pytest

from mounting import REPO, gcsmount_binary, is_mounted, unmount

BUCKET = "test-bucket"
HELPER = os.path.join(REPO, "fs", "mount.gcsmount")
SBIN_HELPER = "/sbin/mount.gcsmount"  # the only place mount(8) looks

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60, **kw)


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def mount_entry(path):
    """The /proc/self/mounts fields of the mount on path, or None."""
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == path:
                return fields
    return None


def read_log(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def helper_env():
    """The environment for mount(8): the helper runs the gcsmount under test."""
    env = dict(os.environ, GCSMOUNT_BIN=gcsmount_binary())
    env.pop("STORAGE_EMULATOR_HOST", None)
    return env


@pytest.fixture
def sbin_helper():
    """Makes mount(8) run this tree's helper: a symlink in /sbin for the test, or, where a
    helper is installed, this one bind-mounted over it. Either is undone afterwards."""
    if os.path.lexists(SBIN_HELPER):
        run("mount", "--bind", HELPER, SBIN_HELPER)
        try:
            yield
        finally:
            run("umount", "-l", SBIN_HELPER, check=False)
    else:
        os.symlink(HELPER, SBIN_HELPER)
        try:
            yield
        finally:
            os.unlink(SBIN_HELPER)


@pytest.fixture
def native(fakegcs, tmp_path, sbin_helper):
    """Mount points, fstab files and logs under tmp_path; whatever is still mounted at the end
    is unmounted, and the daemons must not have logged errors or warnings."""
    class Native:
        def __init__(self):
            self.mountpoints = []

        def mountpoint(self, name):
            path = tmp_path / name
            path.mkdir()
            self.mountpoints.append(str(path))
            return str(path)

        def log(self, name):
            return str(tmp_path / f"{name}.log")

        def options(self, name, extra=""):
            """Options that point a mount at the test server and give it its own log."""
            return (f"endpoint={fakegcs.url},anonymous,log_file={self.log(name)},"
                    f"staging_dir={tmp_path / 'staging'}{extra}")

        def fstab(self, lines):
            path = tmp_path / "fstab"
            path.write_text("".join(line + "\n" for line in lines))
            return str(path)

    n = Native()
    yield n
    for path in n.mountpoints:
        unmount(path)
    for log in tmp_path.glob("*.log"):
        bad = [l for l in read_log(log).splitlines() if re.search(r" (error|warning): ", l)]
        assert not bad, f"{log} has errors or warnings:\n" + "\n".join(bad)


@needs_root
def test_fstab_line_mounts_with_mount_and_unmounts_with_umount(fakegcs, native):
    fakegcs.put(BUCKET, "hello.txt", b"hello\n")
    mnt = native.mountpoint("gcs")
    opts = "rw,_netdev,allow_other,defaults,nofail,user,nouser,auto,x-systemd.automount"
    fstab = native.fstab([f"{BUCKET} {mnt} gcsmount {opts},{native.options('gcs')} 0 0"])

    run("mount", "--fstab", fstab, mnt, env=helper_env())
    # mount returns once the mount answers: no waiting here.
    fields = mount_entry(mnt)
    assert fields[0] == BUCKET and fields[2] == "fuse.gcsmount"
    assert "allow_other" in fields[3].split(",")
    with open(os.path.join(mnt, "hello.txt"), "rb") as f:
        assert f.read() == b"hello\n"
    with open(os.path.join(mnt, "new.txt"), "wb") as f:
        f.write(b"written through fstab\n")
    # Uploaded after close (upload_on_close=background).
    assert wait_for(lambda: fakegcs.stat(BUCKET, "new.txt") is not None)
    assert fakegcs.get(BUCKET, "new.txt") == b"written through fstab\n"
    # The daemon logs where the fstab line said.
    assert f"mounted gs://{BUCKET} on {mnt}" in read_log(native.log("gcs"))

    run("umount", mnt)
    assert not is_mounted(mnt)
    assert wait_for(lambda: "unmounting" in read_log(native.log("gcs")))


@needs_root
def test_mount_all_mounts_each_auto_entry_once_and_skips_noauto(fakegcs, native):
    auto = native.mountpoint("auto")
    manual = native.mountpoint("manual")
    fstab = native.fstab([
        "# buckets",
        f"{BUCKET} {auto} gcsmount _netdev,{native.options('auto')} 0 0",
        f"{BUCKET} {manual} gcsmount noauto,_netdev,{native.options('manual')} 0 0",
    ])

    for _ in range(2):
        run("mount", "--all", "--fstab", fstab, env=helper_env())
    with open("/proc/self/mounts") as f:
        assert [l.split()[1] for l in f].count(os.path.realpath(auto)) == 1
    assert not is_mounted(manual)
    # mount DIR still mounts the noauto entry.
    run("mount", "--fstab", fstab, manual, env=helper_env())
    assert is_mounted(manual)
    run("umount", auto)
    run("umount", manual)


@needs_root
def test_mount_type_gcsmount_passes_options_to_gcsmount(fakegcs, native):
    fakegcs.put(BUCKET, "a.txt", b"a")
    mnt = native.mountpoint("ro")
    run("mount", "-t", "gcsmount", "-o", native.options("ro", ",ro,file_mode=600"), BUCKET, mnt,
        env=helper_env())
    assert stat.S_IMODE(os.stat(os.path.join(mnt, "a.txt")).st_mode) == 0o600
    with pytest.raises(OSError) as e:
        open(os.path.join(mnt, "b.txt"), "wb")
    assert e.value.errno == errno.EROFS
    run("umount", mnt)


@needs_root
def test_mount_helper_failures_use_mount_exit_codes_and_leave_nothing_mounted(fakegcs, native):
    mnt = native.mountpoint("bad")
    res = run("mount", "-t", "gcsmount", "-o", native.options("bad", ",no_such_option"),
              BUCKET, mnt, env=helper_env(), check=False)
    assert res.returncode == 1  # bad invocation
    assert "no_such_option" in res.stderr
    res = run("mount", "-t", "gcsmount", "-o", "endpoint=http://127.0.0.1:1,anonymous,max_retries=0",
              BUCKET, mnt, env=helper_env(), check=False)
    assert res.returncode == 32  # mount failure
    assert "127.0.0.1:1" in res.stderr
    assert not is_mounted(mnt)


@needs_root
def test_mount_fake_runs_nothing_and_verbose_shows_the_command(fakegcs, native):
    mnt = native.mountpoint("fake")
    res = run("mount", "--fake", "--verbose", "-t", "gcsmount", "-o", native.options("fake"),
              BUCKET, mnt, env=helper_env())
    command = re.search(r"^mount\.gcsmount: (\S+) -o (\S+) -- (\S+) (\S+)$", res.stderr, re.M)
    assert command.group(1, 3, 4) == (gcsmount_binary(), BUCKET, mnt)
    assert set(native.options("fake").split(",")) <= set(command.group(2).split(","))
    assert not is_mounted(mnt)


@needs_root
def test_mount_namespace_option_mounts_in_that_namespace_only(fakegcs, native):
    fakegcs.put(BUCKET, "ns.txt", b"in the namespace\n")
    mnt = native.mountpoint("ns")
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "120"])
    in_ns = ["nsenter", "--target", str(holder.pid), "--mount", "--"]
    try:
        assert wait_for(lambda: os.readlink(f"/proc/{holder.pid}/ns/mnt")
                        != os.readlink("/proc/self/ns/mnt"))
        run("mount", "--namespace", str(holder.pid), "-t", "gcsmount",
            "-o", native.options("ns"), BUCKET, mnt, env=helper_env())
        assert not is_mounted(mnt)
        assert run(*in_ns, "cat", os.path.join(mnt, "ns.txt")).stdout == "in the namespace\n"
        run(*in_ns, "umount", mnt)
        assert wait_for(lambda: "unmounting" in read_log(native.log("ns")))
    finally:
        run(*in_ns, "umount", "-l", mnt, check=False)
        holder.kill()
        holder.wait()


def test_mount_helper_finds_gcsmount_on_path(tmp_path):
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    helper = sbin / "mount.gcsmount"
    shutil.copy(HELPER, helper)
    bindir = tmp_path / "elsewhere"
    bindir.mkdir()
    os.symlink(gcsmount_binary(), bindir / "gcsmount")
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    res = run(str(helper), BUCKET, str(tmp_path), "-f", "-v", "-o", "ro", env=env)
    assert res.stderr == f"mount.gcsmount: {bindir}/gcsmount -o ro -- {BUCKET} {tmp_path}\n"


@pytest.fixture
def desktop_user():
    """A user with a home folder, and a /dev/fuse that users may open (as on stock Debian).
    Afterwards the user's mounts and processes end and the user is removed."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a user")
    name = f"gcsmt{os.getpid()}"
    run("useradd", "--create-home", "--shell", "/bin/sh", name)
    user = pwd.getpwnam(name)
    fuse_mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    os.chmod("/dev/fuse", 0o666)
    try:
        yield user
    finally:
        os.chmod("/dev/fuse", fuse_mode)
        with open("/proc/self/mounts") as f:
            for path in [l.split()[1] for l in f if l.split()[1].startswith(user.pw_dir + "/")]:
                unmount(path)
        wait_for(lambda: not user_pids(user.pw_uid))
        for pid in user_pids(user.pw_uid):
            os.kill(pid, 9)
        run("userdel", "--remove", name, check=False)


def user_pids(uid):
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                pids.append(int(entry))
        except FileNotFoundError:
            pass
    return pids


def test_user_mounts_reads_writes_and_unmounts_with_fusermount3(fakegcs, desktop_user):
    fakegcs.put(BUCKET, "shared.txt", b"from the bucket\n")
    home = desktop_user.pw_dir
    mnt = os.path.join(home, "gcs")
    log = os.path.join(home, "gcsmount.log")
    binary = os.path.join(home, "gcsmount")  # the build tree may be closed to other users
    shutil.copy(gcsmount_binary(), binary)
    os.chown(binary, desktop_user.pw_uid, desktop_user.pw_gid)

    def as_user(*cmd, **kw):
        env = ["env", "-i", f"HOME={home}", f"USER={desktop_user.pw_name}", "PATH=/usr/bin:/bin"]
        return run("runuser", "-u", desktop_user.pw_name, "--", *env, *cmd, cwd=home, **kw)

    as_user("mkdir", mnt)
    as_user(binary, "--endpoint", fakegcs.url, "--anonymous", "--log-file", log, BUCKET, mnt)
    fields = mount_entry(mnt)
    assert fields[2] == "fuse.gcsmount"
    assert f"user_id={desktop_user.pw_uid}" in fields[3].split(",")
    # Written data waits in the user's own cache folder, the default for users other than root.
    assert os.path.isdir(os.path.join(home, ".cache", "gcsmount", BUCKET, "staging"))

    assert as_user("cat", os.path.join(mnt, "shared.txt")).stdout == "from the bucket\n"
    as_user("sh", "-c", f"echo 'from the user' > {mnt}/mine.txt")
    # The upload follows the close (upload_on_close=background).
    assert wait_for(lambda: fakegcs.stat(BUCKET, "mine.txt") is not None)
    assert fakegcs.get(BUCKET, "mine.txt") == b"from the user\n"
    # Objects that store no owner belong to the mounting user.
    assert as_user("stat", "-c", "%u", f"{mnt}/shared.txt").stdout == f"{desktop_user.pw_uid}\n"

    as_user("fusermount3", "-u", mnt)
    assert not is_mounted(mnt)
    assert wait_for(lambda: "unmounting" in read_log(log))
    assert " error: " not in read_log(log) and " warning: " not in read_log(log)


def test_meson_install_puts_binary_helper_and_man_page_where_mount_and_man_look(tmp_path):
    build = tmp_path / "build"
    dest = tmp_path / "dest"
    run("meson", "setup", "--prefix=/usr", "--buildtype=plain", str(build), REPO)
    subprocess.run(["meson", "install", "-C", str(build), "--destdir", str(dest), "--quiet"],
                   check=True, capture_output=True, timeout=300)
    binary = dest / "usr/bin/gcsmount"
    helper = dest / "usr/sbin/mount.gcsmount"  # /sbin/mount.gcsmount on merged-/usr systems
    man = dest / "usr/share/man/man1/gcsmount.1"
    assert (dest / "usr/share/man/man8/mount.gcsmount.8").read_text() == ".so man1/gcsmount.1\n"
    for path in (binary, helper):
        assert os.access(path, os.X_OK), path
    version = run(str(binary), "--version").stdout.split()[-1]
    assert f'"gcsmount {version}"' in man.read_text().splitlines()[0]
    # The installed helper runs the gcsmount installed with it, before any on PATH.
    res = run(str(helper), BUCKET, str(tmp_path), "-f", "-v", env={"PATH": "/usr/bin:/bin"})
    assert res.stderr.startswith(f"mount.gcsmount: {helper.parent}/../bin/gcsmount ")


def test_man_page_describes_every_option_of_help():
    help_text = run(gcsmount_binary(), "--help").stdout
    options = re.findall(r"^  ([a-z_]+)(?:=VALUE)?\s", help_text.split("Options:")[1], re.M)
    assert len(options) > 10
    with open(os.path.join(REPO, "docs", "gcsmount.1.in")) as f:
        man = f.read()
    missing = [o for o in options if not re.search(rf"^\.BI? .*\b{o}\b", man, re.M)]
    assert not missing


installed = pytest.mark.skipif(not os.environ.get("GCSMOUNT_CHECK_INSTALLED"),
                               reason="checks the installed package: run by tools/check-deb")


INSTALLED_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # and no GCSMOUNT_BIN


@installed
def test_installed_package_holds_binary_helper_and_man_page_and_needs_fuse3():
    files = run("dpkg", "--listfiles", "gcsmount").stdout.split()
    for path in ("/usr/bin/gcsmount", "/usr/sbin/mount.gcsmount",
                 "/usr/share/man/man1/gcsmount.1.gz", "/usr/share/man/man8/mount.gcsmount.8.gz"):
        assert path in files
        assert os.path.exists(path)
    depends = run("dpkg-query", "--show", "--showformat=${Depends}", "gcsmount").stdout
    assert re.search(r"\bfuse3\b", depends) and re.search(r"\blibfuse3-\d", depends)


@installed
def test_installed_gcsmount_mounts_and_unmounts(fakegcs, tmp_path):
    fakegcs.put(BUCKET, "a.txt", b"installed\n")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        run("/usr/bin/gcsmount", "--endpoint", fakegcs.url, "--anonymous", "--staging-dir", str(tmp_path / "staging"),
            BUCKET, str(mnt), env=INSTALLED_ENV)
        assert (mnt / "a.txt").read_bytes() == b"installed\n"
        (mnt / "b.txt").write_bytes(b"written\n")
        assert wait_for(lambda: fakegcs.stat(BUCKET, "b.txt") is not None)
        assert fakegcs.get(BUCKET, "b.txt") == b"written\n"
        run("fusermount3", "-u", str(mnt), env=INSTALLED_ENV)
    finally:
        unmount(str(mnt))


@installed
def test_installed_mount_helper_mounts_type_gcsmount(fakegcs, tmp_path):
    fakegcs.put(BUCKET, "a.txt", b"installed\n")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    opts = f"_netdev,endpoint={fakegcs.url},anonymous,staging_dir={tmp_path / 'staging'}"
    try:
        run("mount", "-t", "gcsmount", "-o", opts, BUCKET, str(mnt), env=INSTALLED_ENV)
        assert mount_entry(mnt)[2] == "fuse.gcsmount"
        assert (mnt / "a.txt").read_bytes() == b"installed\n"
        run("umount", str(mnt), env=INSTALLED_ENV)
        assert not is_mounted(mnt)
    finally:
        unmount(str(mnt))
