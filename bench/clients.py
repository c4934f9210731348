"""The two FUSE clients under test: gcsmount and rclone mount, started and stopped alike.

Each mount runs in the foreground as a child process of the benchmark, in its own session, so
that its pid is known (for CPU time and peak memory), a Ctrl-C reaches only the benchmark (which
then unmounts in order), and a stuck client can be killed: killing the daemon aborts its FUSE
connection, and a workload blocked in a read gets an error instead of hanging the run.

Every mount gets fresh scratch space (gcsmount's staging directory, rclone's VFS cache), so
nothing one workload left behind makes the next one warm.
"""

import os
import shutil
import signal
import subprocess
import time

import procstat


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as handle:
        return any(line.split()[1] == path for line in handle)


def mounts_under(path):
    """Mount points at or below path (to refuse deleting a folder that still shows a bucket)."""
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as handle:
        points = [line.split()[1] for line in handle]
    return [p for p in points if p == path or p.startswith(path + "/")]


def lazy_unmount(path):
    for cmd in (["fusermount3", "-u", "-z", path], ["fusermount", "-u", "-z", path],
                ["umount", "-l", path]):
        if not is_mounted(path):
            return True
        if shutil.which(cmd[0]):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return not is_mounted(path)


class ClientError(RuntimeError):
    pass


class MountClient:
    """A FUSE client of the test server's bucket, mounted afresh for each workload."""

    name = "client"

    def __init__(self, workdir, endpoint, bucket):
        self.workdir = workdir
        self.endpoint = endpoint
        self.bucket = bucket
        self.mountpoint = os.path.join(workdir, "mnt-" + self.name)
        self.proc = None
        self.scratch = None
        self.log_path = None
        self.last_log = ""
        self._mounts = 0

    # --- what differs between clients ------------------------------------------------

    def command(self):
        raise NotImplementedError

    def environment(self):
        return dict(os.environ)

    def settings(self):
        """One line saying how the client is run, for the report."""
        raise NotImplementedError

    def version(self):
        raise NotImplementedError

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, timeout=30.0):
        if self.proc is not None:
            raise ClientError("%s is already mounted" % self.name)
        self._mounts += 1
        self.scratch = os.path.join(self.workdir, "%s-%d" % (self.name, self._mounts))
        os.makedirs(self.scratch)
        os.makedirs(self.mountpoint, exist_ok=True)
        if is_mounted(self.mountpoint):
            raise ClientError("%s is still mounted from before" % self.mountpoint)
        self.log_path = os.path.join(self.scratch, "client.log")
        with open(self.log_path + ".out", "wb") as out:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=self.environment(),
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while not is_mounted(self.mountpoint):
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise ClientError("%s exited with %d before mounting:\n%s"
                                  % (self.name, code, self.log_tail()))
            if time.monotonic() > deadline:
                self.stop()
                raise ClientError("%s did not mount within %.0f s:\n%s"
                                  % (self.name, timeout, self.log_tail()))
            time.sleep(0.02)
        os.stat(self.mountpoint)        # the mount answers, not just listed
        return self

    def stop(self, timeout=60.0):
        """Unmount, let the daemon finish (uploads still staged), reap it, drop scratch space.

        Returns the daemon's exit code, or None if nothing was running."""
        if self.proc is None:
            return None
        lazy_unmount(self.mountpoint)
        code = None
        for sig, wait in ((None, timeout), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            if sig is not None and self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                code = self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None
        if self.scratch and not mounts_under(self.scratch):
            self.last_log = self.log_tail()
            shutil.rmtree(self.scratch, ignore_errors=True)
        return code

    def kill(self):
        """Kill the daemon at once: its FUSE connection aborts and blocked callers get errors."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    # --- state ---------------------------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self):
        return self.proc.poll() if self.proc is not None else None

    def cpu_seconds(self):
        return procstat.cpu_seconds(self.pid) if self.alive() else None

    def peak_rss_mib(self):
        return procstat.peak_rss_mib(self.pid) if self.alive() else None

    def path(self, *parts):
        return os.path.join(self.mountpoint, *parts)

    def log_tail(self, lines=30):
        text = ""
        for path in (self.log_path, self.log_path and self.log_path + ".out"):
            if path and os.path.exists(path):
                with open(path, errors="replace") as handle:
                    text += handle.read()
        return "\n".join(text.splitlines()[-lines:])


class Gcsmount(MountClient):
    """gcsmount with its defaults: memory block cache, staged writes uploaded on close."""

    name = "gcsmount"

    def __init__(self, workdir, endpoint, bucket, binary):
        super().__init__(workdir, endpoint, bucket)
        self.binary = binary

    def command(self):
        # The test server takes no credentials, like rclone's anonymous = true.
        return [self.binary, "-f", "--endpoint", self.endpoint, "--anonymous",
                "--log-file", self.log_path,
                "--staging-dir", os.path.join(self.scratch, "staging"),
                self.bucket, self.mountpoint]

    def environment(self):
        env = dict(os.environ)
        env.pop("STORAGE_EMULATOR_HOST", None)
        return env

    def settings(self):
        return ("gcsmount -f --endpoint URL --anonymous --staging-dir DIR "
                "(all other options default)")

    def version(self):
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return out.stdout.strip() or out.stderr.strip()


class Rclone(MountClient):
    """rclone mount with a full VFS cache, the mode that matches gcsmount's design.

    --vfs-cache-mode full is what makes rclone a read-write filesystem with random access,
    like gcsmount: written files are staged on local disk and uploaded after close, and read
    data is kept in a local cache. --vfs-write-back 0s starts each upload right after close
    instead of 5 s later, so time-to-durable measures rclone's work, not a timer. The cache
    directory is fresh for every mount.
    """

    name = "rclone"
    REMOTE = "BENCHGCS"

    def command(self):
        return ["rclone", "mount", "%s:%s" % (self.REMOTE.lower(), self.bucket), self.mountpoint,
                "--vfs-cache-mode", "full", "--vfs-write-back", "0s",
                "--cache-dir", os.path.join(self.scratch, "cache"),
                "--log-file", self.log_path, "--log-level", "NOTICE"]

    def environment(self):
        config = os.path.join(self.workdir, "rclone.conf")
        open(config, "a").close()
        prefix = "RCLONE_CONFIG_%s_" % self.REMOTE
        env = dict(os.environ)
        env.update({"RCLONE_CONFIG": config,
                    prefix + "TYPE": "google cloud storage",
                    prefix + "ANONYMOUS": "true",
                    prefix + "ENDPOINT": self.endpoint + "/storage/v1/",
                    "XDG_CACHE_HOME": os.path.join(self.scratch, "xdg-cache")})
        return env

    def settings(self):
        return ("rclone mount --vfs-cache-mode full --vfs-write-back 0s --cache-dir DIR "
                "(anonymous, endpoint URL/storage/v1/; all other options default)")

    def version(self):
        out = subprocess.run(["rclone", "version"], capture_output=True, text=True)
        return (out.stdout.splitlines() or ["rclone ?"])[0].strip()
