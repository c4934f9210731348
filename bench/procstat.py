"""CPU time and peak memory of a running process, read from /proc.

Both mount daemons are measured from the outside, by pid, so the numbers mean the same for
gcsmount and rclone and neither needs hooks. CPU time is user plus system time of all the
process's threads; peak memory is the kernel's high-water mark of resident memory (VmHWM),
which needs no sampling. Work the kernel does on a daemon's behalf in FUSE itself is not
included for either of them.
"""

import os

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of pid so far, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name in parentheses may contain spaces; fields after it are fixed.
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def peak_rss_mib(pid):
    """Peak resident memory of pid in MiB (VmHWM), or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def rusage_of_wait(pid):
    """Reap a child with wait4 and return (exit status, CPU seconds, peak RSS MiB).

    Used for short-lived helpers (curl) whose /proc entry is gone by the time they finish.
    """
    _, status, usage = os.wait4(pid, 0)
    return (os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024.0)
