"""An unlink that fails leaves everything as it was: the name stays, and a program that has
the file open with unsaved writes still saves them when it closes it."""
import errno
import os

import pytest

from settle import settle

BUCKET = "test-bucket"


@pytest.mark.parametrize("fault,err", [({"status": 403, "count": 1}, errno.EACCES),
                                       ({"status": 503, "count": 50}, errno.EIO)])
def test_failed_unlink_keeps_the_open_files_unsaved_writes(fakegcs, mount, fault, err):
    fakegcs.put(BUCKET, "doc.txt", b"old")
    m = mount(args=["-o", "max_retries=1"])
    m.expect_log(r"objects\.delete doc\.txt")
    with open(m.p("doc.txt"), "r+b") as f:
        f.write(b"new")
        fakegcs.fault("objects.delete", **fault)
        with pytest.raises(OSError) as e:
            os.unlink(m.p("doc.txt"))
        assert e.value.errno == err
        fakegcs.clear_faults()
        assert os.listdir(m.path) == ["doc.txt"]
        f.write(b" data")
    settle(m)
    assert fakegcs.get(BUCKET, "doc.txt") == b"new data"
    assert open(m.p("doc.txt"), "rb").read() == b"new data"


def test_unlink_of_a_file_open_for_writing_drops_its_upload(fakegcs, mount):
    fakegcs.put(BUCKET, "tmp.txt", b"old")
    m = mount()
    with open(m.p("tmp.txt"), "r+b") as f:
        f.write(b"scratch")
        os.unlink(m.p("tmp.txt"))
        f.write(b" more")
        f.seek(0)
        assert f.read() == b"scratch more"
    settle(m)
    assert fakegcs.list(BUCKET) == []
