"""Running the real gcsmount binary for integration tests.

A Mount starts gcsmount against the test server, waits until the kernel shows the mount,
and on stop unmounts it lazily and reaps the process, so that a failing test never leaves a
mount behind. Each mount writes its own log file; check_log() fails the test when the
daemon logged an error or warning the test did not declare as expected.

Mounts are anonymous unless a test says otherwise (anonymous=False), because the test
server asks for no credentials by default and the real user's credentials must never be
read by a test. env adds variables to the daemon's environment; a value of None removes one.

With GCSMOUNT_VALGRIND set (to 1, or to more valgrind options), every mount runs under
valgrind's memcheck with generous timeouts, and a mount fails its test unless valgrind
found no errors and no definite leaks in each of its processes.
"""
import glob
import os
import re
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gcsmount_binary():
    path = os.environ.get("GCSMOUNT_BIN") or os.path.join(REPO, "build", "fs", "gcsmount")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"gcsmount binary not found at {path}; build first "
                           "(meson setup build && ninja -C build) or set GCSMOUNT_BIN")
    return path


def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


VALGRIND = os.environ.get("GCSMOUNT_VALGRIND", "")
# Valgrind runs the daemon 10-50 times slower; its leak check at exit takes a while too.
SLOW = 6 if VALGRIND else 1


def valgrind_prefix(log_path):
    extra = [] if VALGRIND in ("1", "yes", "true") else VALGRIND.split()
    # %p: a daemonized mount forks, and each process writes its own verdict.
    return ["valgrind", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            f"--log-file={log_path}.valgrind.%p"] + extra


def valgrind_problems(log_path):
    """Lines that say why valgrind's verdict on a mount's processes was not clean."""
    files = sorted(glob.glob(glob.escape(log_path) + ".valgrind.*"))
    if not files:
        return [f"valgrind: no report for {log_path}"]
    bad = []
    for name in files:
        text = read_text(name)
        if re.search(r"ERROR SUMMARY: 0 errors from 0 contexts", text):
            continue
        if "ERROR SUMMARY:" not in text:
            bad.append(f"valgrind: {name} has no verdict (the process did not exit?)")
        else:
            bad.append(f"valgrind found errors or definite leaks ({name}):")
        bad += [f"valgrind: {line}" for line in text.splitlines()]
    return bad


def sanitizer_reports(pid):
    """What ASan and UBSan reported about process pid, when their options send reports to
    files (./test.sh --sanitize does: a daemon's stderr may be /dev/null)."""
    lines = []
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        m = re.search(r"(?:^|:)log_path=([^:]+)", os.environ.get(var, ""))
        for name in glob.glob(glob.escape(m.group(1)) + f".{pid}") if m else []:
            lines += read_text(name).splitlines()
    return lines


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


def unmount(path):
    for cmd in (["fusermount3", "-u", "-z", path], ["umount", "-l", path]):
        if not is_mounted(path):
            return
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Mount:
    def __init__(self, endpoint, bucket, mountpoint, log_path, args=(), env=None,
                 foreground=True, anonymous=True):
        self.endpoint = endpoint
        self.bucket = bucket
        self.path = str(mountpoint)
        self.log_path = str(log_path)
        self.args = list(args)
        self.env = env
        self.foreground = foreground
        self.anonymous = anonymous
        self.proc = None
        self.expected_log = []  # regexes of log lines that may say error/warning

    def command(self):
        cmd = [gcsmount_binary()]
        if self.foreground:
            cmd.append("-f")
        if self.endpoint:
            cmd += ["--endpoint", self.endpoint]
        if self.anonymous:
            cmd.append("--anonymous")
        cmd += ["--log-file", self.log_path] + self.args + [self.bucket, self.path]
        return valgrind_prefix(self.log_path) + cmd if VALGRIND else cmd

    def environment(self):
        env = dict(os.environ)
        env.pop("STORAGE_EMULATOR_HOST", None)
        for key, value in (self.env or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self, timeout=15):
        timeout *= SLOW
        os.makedirs(self.path, exist_ok=True)
        env = self.environment()
        if self.foreground:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=open(self.log_path + ".stderr", "wb"),
                                         env=env)
            deadline = time.monotonic() + timeout
            while not is_mounted(self.path):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gcsmount exited with {self.proc.returncode}: "
                                       f"{self.stderr()}\n{self.log()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gcsmount did not mount within {timeout}s\n{self.log()}")
                time.sleep(0.02)
        else:
            res = subprocess.run(self.command(), stdin=subprocess.DEVNULL,
                                 capture_output=True, env=env, timeout=timeout)
            if res.returncode != 0:
                raise RuntimeError(f"gcsmount exited with {res.returncode}: "
                                   f"{res.stderr.decode(errors='replace')}")
        return self

    def stop(self):
        unmount(self.path)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            # A daemonized gcsmount exits on unmount; give it a moment to finish its log.
            deadline = time.monotonic() + 10 * SLOW
            while time.monotonic() < deadline and "unmounting" not in self.log():
                time.sleep(0.05)
        if VALGRIND:
            # The verdict is written when the last process exits.
            deadline = time.monotonic() + 20 * SLOW
            while time.monotonic() < deadline and any(
                    "ERROR SUMMARY:" not in read_text(n)
                    for n in glob.glob(glob.escape(self.log_path) + ".valgrind.*")):
                time.sleep(0.1)

    def stderr(self):
        try:
            with open(self.log_path + ".stderr", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def expect_log(self, pattern):
        """Declares that log lines matching pattern (errors or warnings) are expected."""
        self.expected_log.append(re.compile(pattern))

    def unexpected_log_lines(self):
        bad = []
        lines = [l for l in self.log().splitlines() if re.search(r" (error|warning): ", l)]
        lines += [l for l in self.stderr().splitlines() if l.strip()]
        if self.proc is not None:
            lines += sanitizer_reports(self.proc.pid)
        if VALGRIND:
            lines += valgrind_problems(self.log_path)
        for line in lines:
            if any(p.search(line) for p in self.expected_log):
                continue
            bad.append(line)
        return bad

    def p(self, *parts):
        return os.path.join(self.path, *parts)
