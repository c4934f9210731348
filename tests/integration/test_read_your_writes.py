"""Reading one's own writes on the mount that made them, while other processes list the folder.

The mount that wrote a file shows the new content as soon as close returns (README,
Consistency), and what close accepted reaches the bucket, however listings sent before a
change are answered after it. bench/soak found these; the one still marked xfail fails
rarely (not on every run), so it is not strict: it shows a race not fixed yet.
"""
import os
import random
import threading

import pytest

# What the daemon logs while these bugs strike ("generation ... is gone", "staging ...: No such
# file or directory", ...) is part of them.
QUIRKS = r" (error|warning): "


class Listers:
    """Two threads listing a folder over and over, as ls, find or a file manager would."""

    def __init__(self, path):
        self.path = path
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(2)]

    def run(self):
        while not self.stop.is_set():
            os.listdir(self.path)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def read_back(path):
    """(size stat gives, bytes read), or the error."""
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as f:
            return size, f.read()
    except OSError as e:
        return repr(e), b""


def test_a_rewritten_file_reads_back_at_once(fakegcs, mount):
    m = mount()
    m.expect_log(QUIRKS)
    path = m.p("f")
    rng = random.Random(3)
    wrong = []
    for n in range(100):
        data = rng.randbytes(rng.randrange(1000, 70000))
        with open(path, "wb") as f:
            f.write(data)
        size, got = read_back(path)
        if size != len(data) or got != data:
            wrong.append(f"rewrite {n}: stat {size}, read {len(got)} B, wrote {len(data)}")
    assert not wrong, f"{len(wrong)} of 100 rewrites read back wrong: {wrong[:3]}"


@pytest.mark.xfail(strict=False, reason="while other processes list the folder, about one "
                                        "rewrite in two hundred still stats or reads back at "
                                        "an older size")
def test_listings_in_flight_do_not_bring_back_the_replaced_version(fakegcs, mount):
    m = mount()
    m.expect_log(QUIRKS)
    d = m.p("d")
    os.mkdir(d)
    for i in range(20):
        with open(os.path.join(d, f"other{i}"), "wb") as f:
            f.write(b"x" * 1000)
    rng = random.Random(7)
    wrong = []
    with Listers(d):
        for n in range(100):
            data = rng.randbytes(rng.randrange(1000, 70000))
            with open(os.path.join(d, "f"), "wb") as f:
                f.write(data)
            size, got = read_back(os.path.join(d, "f"))
            if size != len(data) or got != data:
                wrong.append(f"rewrite {n}: stat {size}, read {len(got)} B, wrote {len(data)}")
    assert not wrong, f"{len(wrong)} of 100 rewrites read back wrong: {wrong[:3]}"


def test_appends_after_rewrites_reach_the_bucket_whole(fakegcs, mount):
    m = mount()
    m.expect_log(QUIRKS)
    d = m.p("d")
    os.mkdir(d)
    rng = random.Random(1)
    want = {}
    with Listers(d):
        for n in range(40):
            path = os.path.join(d, f"f{n}")
            content = b""
            for k in range(4):
                data = rng.randbytes(rng.randrange(1000, 70000))
                try:
                    with open(path, "ab" if k % 2 else "wb") as f:
                        f.write(data)
                except OSError:
                    content = None   # the program was told: not a silent loss
                    break
                content = content + data if k % 2 else data
            if content is not None:
                want[f"d/f{n}"] = content
    m.stop()   # uploads what is staged
    lost = []
    for name, content in want.items():
        got = fakegcs.get("test-bucket", name)
        if got != content:
            lost.append(f"{name}: {len(got)} B in the bucket, {len(content)} B written")
    assert not lost, f"{len(lost)} of {len(want)} files silently wrong: {lost[:3]}"


def test_a_file_renamed_over_another_reads_as_the_moved_one_during_listings(fakegcs, mount):
    m = mount()
    m.expect_log(QUIRKS)
    d = m.p("d")
    os.mkdir(d)
    rng = random.Random(5)
    wrong = []
    with Listers(d):
        for n in range(50):
            a, b = os.path.join(d, f"a{n}"), os.path.join(d, f"b{n}")
            old, new = (rng.randbytes(rng.randrange(1000, 70000)) for _ in range(2))
            for path, data in ((a, old), (b, new)):
                with open(path, "wb") as f:
                    f.write(data)
            os.rename(b, a)
            size, got = read_back(a)
            if size != len(new) or got != new:
                wrong.append(f"rename {n}: stat {size}, read {len(got)} B, moved {len(new)}")
    assert not wrong, f"{len(wrong)} of 50 renames read back wrong: {wrong[:3]}"
