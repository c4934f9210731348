"""Random reads: what a reader jumping around a large file costs in requests, counted in the test
server's log. Scattered small reads are fetched exactly; reads that come back near each other
share one block; reads coming back to a region have it fetched ahead; and a reader all over the
file gets the whole of it once, in the memory cache or, when it is too large for that, in a
local copy on disk. Every byte read is checked."""
import os
import random
import time

BUCKET = "test-bucket"
MiB = 1 << 20


def big_object(fakegcs, name, size, seed):
    data = random.Random(seed).randbytes(size)
    fakegcs.put(BUCKET, name, data)
    return data


def gets(fakegcs):
    return [e for e in fakegcs.log() if e["op"] == "xml.get"]


def open_random(path):
    """A descriptor whose reads the kernel passes on as they are (no read-ahead of its own)."""
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    return fd


def check_read(fd, data, off, size=4096):
    assert os.pread(fd, size, off) == data[off:off + size], off


def wait_for_log(m, text, timeout=60):
    deadline = time.monotonic() + timeout
    while text not in m.log():
        assert time.monotonic() < deadline, "no %r in the log" % text
        time.sleep(0.05)


def test_reads_that_come_back_near_each_other_share_one_block(fakegcs, mount):
    data = big_object(fakegcs, "big.bin", 48 * MiB, 1)
    m = mount()
    fd = open_random(m.p("big.bin"))
    try:
        check_read(fd, data, 0)  # the first read of a descriptor is never random
        fakegcs.clear_log()
        # Forty distinct pages of one 1 MiB block, in a scattered order.
        pages = list(range(40))
        random.Random(2).shuffle(pages)
        for p in pages:
            check_read(fd, data, 30 * MiB + p * 8192)
        # The first is fetched exactly, the second brings the block, the rest find it.
        assert len(gets(fakegcs)) <= 3, gets(fakegcs)
    finally:
        os.close(fd)


def test_scattered_small_reads_fetch_only_what_they_ask(fakegcs, mount):
    data = big_object(fakegcs, "big.bin", 48 * MiB, 3)
    m = mount()
    fd = open_random(m.p("big.bin"))
    try:
        check_read(fd, data, 0)
        fakegcs.clear_log()
        # Far apart, in fewer regions than make a sweep: no block, no read-ahead.
        for i in range(1, 6):
            check_read(fd, data, i * 9 * MiB + 12345)
        log = gets(fakegcs)
        assert len(log) == 5
        assert sum(e["bytes_out"] for e in log) <= 5 * 128 * 1024
    finally:
        os.close(fd)


def test_reads_coming_back_to_a_region_have_it_fetched_ahead(fakegcs, mount):
    data = big_object(fakegcs, "big.bin", 48 * MiB, 4)
    m = mount()
    fd = open_random(m.p("big.bin"))
    try:
        check_read(fd, data, 0)
        # Reads in three blocks of the 8 MiB region at 16 MiB make it hot.
        for blk in (17, 21, 19):
            check_read(fd, data, blk * MiB + 777)
        time.sleep(1)  # the region's read-ahead jobs
        fakegcs.clear_log()
        for blk in (16, 18, 20, 22, 23):
            check_read(fd, data, blk * MiB + 4096 * blk)
        assert gets(fakegcs) == []
    finally:
        os.close(fd)


def test_a_reader_all_over_a_file_the_memory_cache_holds_gets_all_of_it(fakegcs, mount):
    data = big_object(fakegcs, "mid.bin", 40 * MiB, 5)
    m = mount()  # 256 MiB of memory cache: the file fills less than a quarter of it
    fd = open_random(m.p("mid.bin"))
    rng = random.Random(6)
    try:
        check_read(fd, data, 0)
        for _ in range(20):
            check_read(fd, data, rng.randrange(40 * MiB - 4096))
        time.sleep(2)
        fakegcs.clear_log()
        for _ in range(200):
            check_read(fd, data, rng.randrange(40 * MiB - 4096))
        assert gets(fakegcs) == []
    finally:
        os.close(fd)


def test_a_reader_all_over_a_large_file_gets_a_local_copy(fakegcs, mount, tmp_path):
    size = 96 * MiB
    data = big_object(fakegcs, "huge.bin", size, 7)
    staging = tmp_path / "staging-rr"
    m = mount(args=["--staging-dir", str(staging), "-o", "cache_size_mb=16"])
    fd = open_random(m.p("huge.bin"))
    rng = random.Random(8)
    try:
        check_read(fd, data, 0)
        fakegcs.clear_log()
        for _ in range(30):
            check_read(fd, data, rng.randrange(size - 4096))
        wait_for_log(m, "huge.bin: local copy complete")
        # The copy came down in large requests, each chunk once: 16 of 6 MiB here.
        copy_gets = [e for e in gets(fakegcs) if e["bytes_out"] == 6 * MiB]
        assert len(copy_gets) == 16
        # It has no name in the staging folder, so nothing is left there after a crash.
        assert [p for p in staging.rglob("*") if p.is_file()] == []
        fakegcs.clear_log()
        for _ in range(300):
            off = rng.randrange(size - (1 << 20))
            check_read(fd, data, off, rng.choice([4096, 65536, 1 << 20]))
        assert gets(fakegcs) == []
    finally:
        os.close(fd)


def test_a_local_copy_is_not_read_for_a_newer_generation(fakegcs, mount):
    size = 80 * MiB
    old = big_object(fakegcs, "gen.bin", size, 9)
    m = mount(args=["-o", "cache_size_mb=16,stat_ttl=1"])
    rng = random.Random(10)
    keeper = open_random(m.p("gen.bin"))
    try:
        check_read(keeper, old, 0)
        for _ in range(30):
            check_read(keeper, old, rng.randrange(size - 4096))
        wait_for_log(m, "gen.bin: local copy complete")
        new = big_object(fakegcs, "gen.bin", size, 11)
        time.sleep(1.5)  # past stat_ttl: the next open sees the new generation
        fd = os.open(m.p("gen.bin"), os.O_RDONLY)
        try:
            for _ in range(20):
                off = rng.randrange(size - 4096)
                assert os.pread(fd, 4096, off) == new[off:off + 4096]
        finally:
            os.close(fd)
        # The descriptor opened before still reads the generation it opened.
        check_read(keeper, old, rng.randrange(size - 4096))
    finally:
        os.close(keeper)


def test_a_renamed_file_keeps_reading_from_its_local_copy(fakegcs, mount):
    size = 80 * MiB
    data = big_object(fakegcs, "before.bin", size, 12)
    m = mount(args=["-o", "cache_size_mb=16"])
    rng = random.Random(13)
    fd = open_random(m.p("before.bin"))
    try:
        check_read(fd, data, 0)
        for _ in range(30):
            check_read(fd, data, rng.randrange(size - 4096))
        wait_for_log(m, "before.bin: local copy complete")
        os.rename(m.p("before.bin"), m.p("after.bin"))
        fakegcs.clear_log()
        for _ in range(100):
            check_read(fd, data, rng.randrange(size - 4096))
        assert gets(fakegcs) == []
    finally:
        os.close(fd)


def test_a_read_only_mount_makes_its_local_copy_outside_the_staging_folder(fakegcs, mount):
    size = 72 * MiB
    data = big_object(fakegcs, "ro.bin", size, 14)
    m = mount(args=["-o", "ro,cache_size_mb=16"])  # a read-only mount has no staging folder
    rng = random.Random(15)
    fd = open_random(m.p("ro.bin"))
    try:
        check_read(fd, data, 0)
        for _ in range(30):
            check_read(fd, data, rng.randrange(size - 4096))
        wait_for_log(m, "ro.bin: local copy complete")
        fakegcs.clear_log()
        for _ in range(100):
            check_read(fd, data, rng.randrange(size - 4096))
        assert gets(fakegcs) == []
    finally:
        os.close(fd)


def test_a_sequential_reader_of_a_partly_cached_file_gets_no_local_copy(fakegcs, mount):
    size = 96 * MiB
    data = big_object(fakegcs, "seq.bin", size, 16)
    m = mount(args=["-o", "cache_size_mb=16"])
    with open(m.p("seq.bin"), "rb", buffering=0) as f:
        assert f.read() == data
        # The kernel drops every other 3 MiB of its copy: reading it all again asks for the
        # missing pieces only, each one further on, which is no random reader.
        for off in range(0, size, 6 * MiB):
            os.posix_fadvise(f.fileno(), off, 3 * MiB, os.POSIX_FADV_DONTNEED)
        f.seek(0)
        assert f.read() == data
    assert "local copy" not in m.log()
