"""What reading costs: requests counted in the test server's log for common operations.
Every list request is a Class A operation, every get a Class B one."""
import os
import subprocess
import threading

BUCKET = "test-bucket"


def requests(fakegcs):
    return [e["op"] for e in fakegcs.log()]


def test_ls_l_makes_one_list_per_thousand_entries_and_nothing_per_entry(fakegcs, mount):
    for i in range(2500):
        fakegcs.put(BUCKET, f"big/f{i:05d}", b"abc")
    m = mount(args=["-o", "list_parallel=1"])
    os.listdir(m.path)  # the parent's listing makes "big" known
    fakegcs.clear_log()
    out = subprocess.run(["ls", "-l", m.p("big")], check=True, capture_output=True).stdout
    assert len(out.splitlines()) == 2501  # "total" and 2,500 entries
    assert requests(fakegcs) == ["objects.list"] * 3


def test_parallel_ls_l_lists_key_ranges_and_makes_nothing_per_entry(fakegcs, mount):
    for i in range(2500):
        fakegcs.put(BUCKET, f"big/f{i:05d}", b"abc")
    m = mount()
    os.listdir(m.path)
    fakegcs.clear_log()
    out = subprocess.run(["ls", "-l", m.p("big")], check=True, capture_output=True).stdout
    assert len(out.splitlines()) == 2501
    log = fakegcs.log()
    assert {e["op"] for e in log} == {"objects.list"}
    # The first page, then the rest split where "f00999" suggests the next pages begin
    # ("f01", "f02", ...): one range per guessed point, each point a list request.
    starts = sorted(e["query"].get("startOffset", "") for e in log)
    assert starts == ["", "big/f00999"] + [f"big/f0{d}" for d in range(1, 10)]


def test_stat_after_a_listing_makes_no_request(fakegcs, mount):
    for i in range(20):
        fakegcs.put(BUCKET, f"d/f{i}", b"x" * i)
    m = mount()
    os.listdir(m.p("d"))
    fakegcs.clear_log()
    for i in range(20):
        assert os.stat(m.p("d", f"f{i}")).st_size == i
    assert requests(fakegcs) == []


def test_cat_of_a_small_file_after_ls_makes_one_get_and_again_none(fakegcs, mount):
    fakegcs.put(BUCKET, "small.txt", b"small file\n" * 100)
    m = mount()
    os.listdir(m.path)
    fakegcs.clear_log()
    subprocess.run(["cat", m.p("small.txt")], check=True, capture_output=True)
    assert requests(fakegcs) == ["xml.get"]
    fakegcs.clear_log()
    subprocess.run(["cat", m.p("small.txt")], check=True, capture_output=True)
    assert requests(fakegcs) == []


def test_a_missing_name_is_asked_about_once_within_the_negative_ttl(fakegcs, mount):
    fakegcs.put(BUCKET, "d/present.txt", b"x")
    m = mount(args=["-o", "negative_ttl=30"])
    os.stat(m.p("d"))
    fakegcs.clear_log()
    for _ in range(5):
        assert not os.path.exists(m.p("d", "absent.txt"))
    # One listing of the parent answers the lookup, and then the kernel remembers.
    assert requests(fakegcs) == ["objects.list"]


def test_a_missing_name_after_ls_costs_no_request(fakegcs, mount):
    fakegcs.put(BUCKET, "d/present.txt", b"x")
    m = mount(args=["-o", "negative_ttl=30"])
    assert os.listdir(m.p("d")) == ["present.txt"]
    fakegcs.clear_log()
    assert not os.path.exists(m.p("d", "absent.txt"))
    assert requests(fakegcs) == []


def test_sequential_read_of_a_large_file_uses_few_large_requests(fakegcs, mount):
    size = 40 << 20
    fakegcs.put(BUCKET, "large.bin", os.urandom(size))
    m = mount()
    os.stat(m.p("large.bin"))
    fakegcs.clear_log()
    with open(m.p("large.bin"), "rb") as f:
        while f.read(1 << 20):
            pass
    gets = [e for e in fakegcs.log() if e["op"] == "xml.get"]
    # Read-ahead fetches 4 MiB per request: about 10, far from one per 128 KiB kernel read.
    assert len(gets) <= 16
    assert sum(e["bytes_out"] for e in gets) < size * 1.1


def test_random_small_reads_all_over_a_large_file_fetch_it_at_most_once(fakegcs, mount):
    size = 64 << 20
    fakegcs.put(BUCKET, "db.bin", os.urandom(size))
    m = mount()
    os.stat(m.p("db.bin"))
    fakegcs.clear_log()
    fd = os.open(m.p("db.bin"), os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for i in range(40):
            os.pread(fd, 4096, ((i * 7919) % 1000) * 65536)
    finally:
        os.close(fd)
    gets = [e for e in fakegcs.log() if e["op"] == "xml.get"]
    # Spread over the whole file they are a sweep: after a few exact reads the file is
    # fetched once, whole, in large requests; no 1 MiB block per 4 KiB read, nothing twice
    # (test_random_reads.py has the other patterns).
    assert sum(e["bytes_out"] for e in gets) <= size + (1 << 20)


def test_lookups_in_a_listed_directory_cost_no_requests(fakegcs, mount):
    for i in range(300):
        fakegcs.put(BUCKET, f"many/f{i:03d}", b"%d" % i)
    m = mount()
    fakegcs.clear_log()
    for i in range(300):
        assert open(m.p("many", f"f{i:03d}"), "rb").read() == b"%d" % i
    assert not os.path.exists(m.p("many", "nothere"))
    ops = requests(fakegcs)
    # The lookup of "many" lists the root; the first name in "many" lists "many"; then one
    # read per file and nothing else.
    assert ops.count("objects.list") == 2
    assert ops.count("objects.get") == 0
    assert ops.count("xml.get") == 300


def test_a_change_made_here_is_seen_by_the_next_lookup(fakegcs, mount):
    fakegcs.put(BUCKET, "d/old", b"1")
    m = mount()
    assert os.path.exists(m.p("d", "old"))  # "d" is now listed and cached
    with open(m.p("d", "new"), "wb") as f:
        f.write(b"2")
    os.rename(m.p("d", "old"), m.p("d", "renamed"))
    os.mkdir(m.p("d", "sub"))
    assert sorted(os.listdir(m.p("d"))) == ["new", "renamed", "sub"]
    for name in ("new", "renamed", "sub"):
        assert os.path.exists(m.p("d", name))
    assert not os.path.exists(m.p("d", "old"))


def test_sequential_requests_reuse_one_connection(fakegcs, mount):
    """Each request borrows a pooled handle that keeps its connection: one after another,
    requests never pay for a new TCP (and TLS) set-up."""
    for i in range(30):
        fakegcs.put(BUCKET, f"f{i}", b"x" * (i + 1))
    m = mount(args=["-o", "prefetch_files=0"])  # no fetches in the background
    os.listdir(m.path)
    fakegcs.clear_log()
    for i in range(30):
        with open(m.p(f"f{i}"), "rb") as f:
            assert f.read() == b"x" * (i + 1)
    log = fakegcs.log()
    assert [e["op"] for e in log] == ["xml.get"] * 30
    assert len({e["connection"] for e in log}) == 1, log


def test_parallel_readers_open_a_connection_per_request_in_flight_not_per_request(
        fakegcs, mount):
    files = 40
    for i in range(files):
        fakegcs.put(BUCKET, f"d{i % 4}/f{i}", b"y" * 1000)
    fakegcs.shape(latency_ms=20)  # keeps requests in flight together
    m = mount()
    for d in range(4):
        os.listdir(m.p(f"d{d}"))
    fakegcs.clear_log()

    def read_all(d):
        for i in range(d, files, 4):
            with open(m.p(f"d{d}", f"f{i}"), "rb") as f:
                assert f.read() == b"y" * 1000

    threads = [threading.Thread(target=read_all, args=(d,)) for d in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = fakegcs.log()
    assert len(log) == files
    assert len({e["connection"] for e in log}) <= 4 + 2, log


def test_a_folder_rename_costs_one_listing_and_one_move_per_object(fakegcs, mount):
    for i in range(40):
        fakegcs.put(BUCKET, f"ds/f{i:02d}", b"%d" % i)
    m = mount()
    assert os.path.isdir(m.p("ds"))
    fakegcs.clear_log()
    os.rename(m.p("ds"), m.p("ds2"))
    ops = requests(fakegcs)
    # The objects move as the listing found them: no read of each one first.
    assert ops.count("objects.move") == 40
    assert ops.count("objects.get") == 0
    assert ops.count("objects.list") <= 2, ops
    assert sorted(os.listdir(m.p("ds2"))) == [f"f{i:02d}" for i in range(40)]
