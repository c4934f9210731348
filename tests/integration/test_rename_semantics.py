"""Renames behave as on a local filesystem: every moved object gets a new generation from
objects.move, and the mount knows it at once; a file open for reading or writing follows its
name (or its directory's) through a rename on this mount, and close uploads every byte to the
new name. Only a change made by another client may end a handle with ESTALE."""
import errno
import os
import random
import subprocess
import threading
import time

import pytest

from settle import settle

BUCKET = "test-bucket"


def objects(fakegcs, prefix=""):
    return sorted(fakegcs.list(BUCKET, prefix))


def recovered(m):
    staging = m.args[m.args.index("--staging-dir") + 1]
    folder = os.path.join(staging, BUCKET, "recovered")
    return os.listdir(folder) if os.path.isdir(folder) else []


def sh(cmd):
    return subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=120)


def test_files_of_a_renamed_directory_read_at_once(fakegcs, mount):
    m = mount()
    res = sh(f"cd {m.path} && mkdir d && echo data > d/f && mkdir d/sub && "
             f"echo deep > d/sub/g && mv d d2 && cat d2/f d2/sub/g")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"data\ndeep\n"
    # The mount's idea of each file is the generation the move created.
    st = fakegcs.stat(BUCKET, "d2/f")
    with open(m.p("d2", "f"), "rb") as f:
        assert f.read() == b"data\n"
    assert fakegcs.stat(BUCKET, "d2/f")["generation"] == st["generation"]


def test_renamed_file_reads_at_once_after_its_directory_was_listed(fakegcs, mount):
    fakegcs.put(BUCKET, "dir/a.bin", b"A" * 5000)
    m = mount()
    assert os.listdir(m.p("dir")) == ["a.bin"]
    os.stat(m.p("dir", "a.bin"))
    os.rename(m.p("dir"), m.p("dir2"))
    assert open(m.p("dir2", "a.bin"), "rb").read() == b"A" * 5000
    os.rename(m.p("dir2", "a.bin"), m.p("dir2", "b.bin"))
    assert open(m.p("dir2", "b.bin"), "rb").read() == b"A" * 5000


def test_file_being_written_follows_its_rename(fakegcs, mount):
    m = mount()
    with open(m.p("w.txt"), "wb") as f:
        f.write(b"before ")
        f.flush()
        os.rename(m.p("w.txt"), m.p("x.txt"))
        f.write(b"after")
    settle(m)
    assert fakegcs.get(BUCKET, "x.txt") == b"before after"
    assert objects(fakegcs) == ["x.txt"]
    assert recovered(m) == []


def test_file_being_written_follows_its_directory_rename(fakegcs, mount):
    m = mount()
    os.mkdir(m.p("d"))
    with open(m.p("d", "w.txt"), "wb") as f:
        f.write(b"before ")
        f.flush()
        os.rename(m.p("d"), m.p("e"))
        f.write(b"after")
    settle(m)
    assert fakegcs.get(BUCKET, "e/w.txt") == b"before after"
    assert objects(fakegcs) == ["e/", "e/w.txt"]
    assert recovered(m) == []


def test_existing_file_edited_across_a_directory_rename_keeps_every_byte(fakegcs, mount):
    fakegcs.put(BUCKET, "d/log.txt", b"line 1\n")
    m = mount()
    with open(m.p("d", "log.txt"), "ab") as f:
        f.write(b"line 2\n")
        os.rename(m.p("d"), m.p("e"))
        f.write(b"line 3\n")
    settle(m)
    assert fakegcs.get(BUCKET, "e/log.txt") == b"line 1\nline 2\nline 3\n"
    assert objects(fakegcs) == ["e/log.txt"]
    assert recovered(m) == []


def test_streamed_upload_follows_a_rename_midway(fakegcs, mount):
    data = random.Random(3).randbytes(3 << 20)
    m = mount(args=["-o", "upload_chunk_mb=1"])
    os.mkdir(m.p("d"))
    with open(m.p("d", "big.bin"), "wb") as f:
        f.write(data[: 3 << 19])
        os.rename(m.p("d", "big.bin"), m.p("d", "big2.bin"))
        os.rename(m.p("d"), m.p("e"))
        f.write(data[3 << 19:])
    settle(m)
    assert fakegcs.get(BUCKET, "e/big2.bin") == data
    assert objects(fakegcs) == ["e/", "e/big2.bin"]
    assert recovered(m) == []


def test_file_being_read_follows_its_rename(fakegcs, mount):
    data = random.Random(5).randbytes(6 << 20)
    fakegcs.put(BUCKET, "app.log", data)
    m = mount()
    with open(m.p("app.log"), "rb") as f:
        head = f.read(1 << 20)
        os.rename(m.p("app.log"), m.p("app.log.1"))
        rest = f.read()
    assert head + rest == data


def test_file_being_read_follows_its_directory_rename(fakegcs, mount):
    data = random.Random(6).randbytes(6 << 20)
    fakegcs.put(BUCKET, "shards/part-0", data)
    m = mount()
    with open(m.p("shards", "part-0"), "rb") as f:
        head = f.read(1 << 20)
        os.rename(m.p("shards"), m.p("old-shards"))
        f.seek(4 << 20)
        tail = f.read()
        f.seek(1 << 20)
        middle = f.read(3 << 20)
    assert head + middle + tail == data


def test_reader_still_gets_estale_when_another_client_replaces_the_file(fakegcs, mount):
    data = random.Random(8).randbytes(6 << 20)
    fakegcs.put(BUCKET, "shared.bin", data)
    m = mount()
    m.expect_log(r"generation \d+ is gone")
    with open(m.p("shared.bin"), "rb") as f:
        f.read(1 << 20)
        fakegcs.put(BUCKET, "shared.bin", b"someone else's")
        with pytest.raises(OSError) as e:
            f.seek(5 << 20)
            f.read()
    assert e.value.errno == errno.ESTALE


def test_directory_of_50_files_moves_while_10_are_open(fakegcs, mount):
    rnd = random.Random(50)
    contents = {f"f{i:02d}": rnd.randbytes(rnd.randrange(1, 300_000)) for i in range(50)}
    for name, data in contents.items():
        fakegcs.put(BUCKET, f"data/{name}", data)
    m = mount()
    readers = {name: open(m.p("data", name), "rb") for name in list(contents)[:5]}
    writers = {name: open(m.p("data", name), "r+b") for name in list(contents)[5:10]}
    try:
        got = {name: f.read(len(contents[name]) // 2) for name, f in readers.items()}
        for name, f in writers.items():
            f.seek(0, os.SEEK_END)
            f.write(b"<half>")
        os.rename(m.p("data"), m.p("moved"))
        for name, f in readers.items():
            got[name] += f.read()
        for name, f in writers.items():
            f.write(b"<end>")
            contents[name] += b"<half><end>"
    finally:
        for f in list(readers.values()) + list(writers.values()):
            f.close()
    for name in readers:
        assert got[name] == contents[name], name
    settle(m)
    assert objects(fakegcs) == sorted(f"moved/{n}" for n in contents)
    for name, data in contents.items():
        assert fakegcs.get(BUCKET, f"moved/{name}") == data, name
        assert open(m.p("moved", name), "rb").read() == data, name
    assert recovered(m) == []


# Long enough for the change a test makes meanwhile to end first, even on a busy machine.
STALL = 3.0


def wait_until_stalled(fakegcs):
    deadline = time.monotonic() + 10
    while fakegcs.pending_faults() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not fakegcs.pending_faults(), "the stalled request never reached the server"


def listing_in_flight(fakegcs, path):
    """Starts os.listdir(path) in a thread whose listing the server answers with the state of
    now but only after STALL seconds; returns (thread, result list)."""
    os.stat(path)  # known already: the listing is the one request that stalls
    fakegcs.fault("objects.list", count=1, stall=STALL)
    out = []
    t = threading.Thread(target=lambda: out.append(sorted(os.listdir(path))))
    t.start()
    wait_until_stalled(fakegcs)
    return t, out


def test_a_listing_answered_after_a_directory_rename_does_not_bring_back_the_old_name(
        fakegcs, mount):
    for i in range(5):
        fakegcs.put(BUCKET, f"src/f{i}", b"%d" % i)
    m = mount()
    t, out = listing_in_flight(fakegcs, m.path)
    os.rename(m.p("src"), m.p("dst"))
    t.join()
    assert out == [["dst"]] or out == [[]], out
    assert not os.path.exists(m.p("src"))
    assert sorted(os.listdir(m.path)) == ["dst"]
    assert open(m.p("dst", "f3"), "rb").read() == b"3"


def test_a_listing_answered_after_an_unlink_does_not_bring_back_the_file(fakegcs, mount):
    fakegcs.put(BUCKET, "d/keep", b"k")
    fakegcs.put(BUCKET, "d/gone", b"g")
    m = mount()
    t, out = listing_in_flight(fakegcs, m.p("d"))
    os.unlink(m.p("d", "gone"))
    t.join()
    assert out == [["keep"]], out
    assert not os.path.exists(m.p("d", "gone"))
    assert os.listdir(m.p("d")) == ["keep"]


def test_a_listing_answered_after_a_file_rename_shows_only_the_new_name(fakegcs, mount):
    fakegcs.put(BUCKET, "d/old", b"o")
    m = mount()
    t, out = listing_in_flight(fakegcs, m.p("d"))
    os.rename(m.p("d", "old"), m.p("d", "new"))
    t.join()
    assert "old" not in out[0], out
    assert not os.path.exists(m.p("d", "old"))
    assert open(m.p("d", "new"), "rb").read() == b"o"


def moving_dir_whose_next_listing_stalls(fakegcs, mount, before_body=False):
    """A mount where moving/x exists and the next listing of moving/ (which a lookup of x
    sends) is answered STALL seconds late: with the state of when it came, or with
    before_body, of when it is answered."""
    fakegcs.put(BUCKET, "moving/x", b"payload")
    m = mount()
    assert os.path.isdir(m.p("moving"))
    fakegcs.fault("objects.list", count=1, stall=STALL, name_contains="moving/",
                  before_body=before_body)
    return m


def test_a_lookup_overtaken_by_a_rename_of_its_directory_finds_the_file_under_the_new_name(
        fakegcs, mount):
    # The answer (x still there) comes after the move.
    m = moving_dir_whose_next_listing_stalls(fakegcs, mount)
    out = []

    def read():
        try:
            with open(m.p("moving", "x"), "rb") as f:
                out.append(f.read())
        except OSError as e:
            out.append(e)

    t = threading.Thread(target=read)
    t.start()
    wait_until_stalled(fakegcs)
    os.rename(m.p("moving"), m.p("moved"))
    t.join()
    assert out == [b"payload"]
    assert open(m.p("moved", "x"), "rb").read() == b"payload"


def test_a_lookup_that_missed_a_file_during_its_directory_rename_is_not_remembered(
        fakegcs, mount):
    # This time the listing is made after the move: x is under neither name for it.
    m = moving_dir_whose_next_listing_stalls(fakegcs, mount, before_body=True)
    t = threading.Thread(target=os.path.exists, args=(m.p("moving", "x"),))
    t.start()
    wait_until_stalled(fakegcs)
    os.rename(m.p("moving"), m.p("moved"))
    t.join()
    assert open(m.p("moved", "x"), "rb").read() == b"payload"


def test_a_directory_renamed_between_opendir_and_readdir_lists_files_that_read(
        fakegcs, mount):
    for i in range(5):
        fakegcs.put(BUCKET, f"src/f{i}", b"content %d" % i)
    m = mount()
    it = os.scandir(m.p("src"))  # lists now; the entries are read below
    os.rename(m.p("src"), m.p("dst"))
    with it:
        names = sorted(e.name for e in it)
    assert names == [f"f{i}" for i in range(5)]
    for i in range(5):
        assert open(m.p("dst", f"f{i}"), "rb").read() == b"content %d" % i
        assert os.stat(m.p("dst", f"f{i}")).st_size == len(b"content %d" % i)
    assert not os.path.exists(m.p("src"))
