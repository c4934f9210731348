"""Two mounts of one bucket, as on two VMs: each sees the other's changes once its cached
attributes expire, and of two writers of one file the first to close wins while the other gets
an error and keeps its data in its recovery folder."""
import errno
import os
import time

import pytest

BUCKET = "test-bucket"


def recovered(m):
    staging = m.args[m.args.index("--staging-dir") + 1]
    folder = os.path.join(staging, BUCKET, "recovered")
    if not os.path.isdir(folder):
        return []
    return [open(os.path.join(folder, f), "rb").read() for f in sorted(os.listdir(folder))]


def test_each_mount_sees_the_others_changes_after_the_ttl(fakegcs, mount):
    a = mount(args=["-o", "stat_ttl=1,negative_ttl=1"])
    b = mount(args=["-o", "stat_ttl=1,negative_ttl=1"])
    assert not os.path.exists(b.p("shared.txt"))
    with open(a.p("shared.txt"), "w") as f:
        f.write("from a")
    time.sleep(1.5)
    assert open(b.p("shared.txt")).read() == "from a"
    with open(b.p("shared.txt"), "w") as f:
        f.write("from b, longer")
    time.sleep(1.5)
    assert open(a.p("shared.txt")).read() == "from b, longer"
    os.unlink(a.p("shared.txt"))
    time.sleep(1.5)
    assert not os.path.exists(b.p("shared.txt"))


@pytest.mark.parametrize("existing", [True, False])
def test_of_two_writers_the_first_close_wins_and_the_other_keeps_its_data(fakegcs, mount,
                                                                        existing):
    if existing:
        fakegcs.put(BUCKET, "doc.txt", b"original")
    a = mount()
    b = mount()
    b.expect_log(r"changed by someone else|saved in")
    fa = open(a.p("doc.txt"), "r+b" if existing else "wb")
    fb = open(b.p("doc.txt"), "r+b" if existing else "wb")
    fa.write(b"A's version")
    fb.write(b"B's version")
    # The first upload wins: fsync uploads at once in either upload_on_close mode (close
    # does so only with upload_on_close=wait).
    fa.flush()
    os.fsync(fa.fileno())
    fa.close()
    fb.flush()
    with pytest.raises(OSError) as e:
        os.fsync(fb.fileno())
    assert e.value.errno == errno.ESTALE
    fb.close()
    assert fakegcs.get(BUCKET, "doc.txt") == b"A's version"
    assert recovered(b) == [b"B's version"]
    assert recovered(a) == []
