"""Files opened in name order: the next ones are fetched before they are opened
(prefetch_files), each exactly once, and nothing is fetched for other access patterns."""
import os
import random
import subprocess
import time

BUCKET = "test-bucket"
WINDOW = 16  # the default prefetch_files


def content(i):
    return (b"file %d\n" % i) * (100 + i)


def seed(fakegcs, count):
    for i in range(count):
        fakegcs.put(BUCKET, f"d/f{i:03d}", content(i))


def fetched(fakegcs):
    """Object names fetched, in order."""
    return [e["object"] for e in fakegcs.log() if e["op"] == "xml.get"]


def settle(fakegcs, timeout=10):
    """Waits until the server has seen no new request for a moment: prefetches run in the
    background."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        n = len(fakegcs.log())
        if n == last:
            return
        last = n
        time.sleep(0.3)


def read(m, i):
    with open(m.p("d", f"f{i:03d}"), "rb") as f:
        assert f.read() == content(i)


def test_reading_files_in_name_order_fetches_the_next_ones_ahead(fakegcs, mount):
    seed(fakegcs, 60)
    m = mount()
    os.listdir(m.p("d"))
    fakegcs.clear_log()
    for i in range(10):
        read(m, i)
    settle(fakegcs)
    got = fetched(fakegcs)
    # Every file up to a window past the last one opened, once each; none beyond.
    assert sorted(got) == [f"d/f{i:03d}" for i in range(10 + WINDOW)]
    fakegcs.clear_log()
    for i in range(10, 10 + WINDOW):
        read(m, i)
    settle(fakegcs)
    # Those were already here; the window moved on with the reader.
    assert not set(fetched(fakegcs)) & {f"d/f{i:03d}" for i in range(10 + WINDOW)}


def test_cat_of_a_whole_directory_fetches_each_file_once(fakegcs, mount):
    seed(fakegcs, 60)
    m = mount()
    fakegcs.clear_log()
    out = subprocess.run("cat d/*", shell=True, cwd=m.path, check=True,
                         capture_output=True).stdout
    assert out == b"".join(content(i) for i in range(60))
    settle(fakegcs)
    got = fetched(fakegcs)
    assert sorted(got) == [f"d/f{i:03d}" for i in range(60)]


def test_files_opened_out_of_order_are_not_prefetched(fakegcs, mount):
    seed(fakegcs, 60)
    m = mount()
    os.listdir(m.p("d"))
    fakegcs.clear_log()
    order = random.Random(7).sample(range(60), 12)
    for i in order:
        read(m, i)
    settle(fakegcs)
    assert sorted(fetched(fakegcs)) == sorted(f"d/f{i:03d}" for i in order)


def test_prefetch_files_0_fetches_only_what_is_opened(fakegcs, mount):
    seed(fakegcs, 60)
    m = mount(args=["-o", "prefetch_files=0"])
    os.listdir(m.p("d"))
    fakegcs.clear_log()
    for i in range(10):
        read(m, i)
    settle(fakegcs)
    assert fetched(fakegcs) == [f"d/f{i:03d}" for i in range(10)]


def test_a_file_replaced_after_the_listing_is_read_new(fakegcs, mount):
    seed(fakegcs, 30)
    m = mount(args=["-o", "stat_ttl=0"])
    os.listdir(m.p("d"))
    for i in range(5):
        read(m, i)
    settle(fakegcs)  # f005 ... f020 are in the cache now, as listed
    fakegcs.put(BUCKET, "d/f010", b"replaced")
    for i in range(5, 10):
        read(m, i)
    with open(m.p("d", "f010"), "rb") as f:
        assert f.read() == b"replaced"
