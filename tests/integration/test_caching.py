"""Caches never serve stale or mixed data: a changed object is seen after the TTL, in full."""
import os
import random
import time

BUCKET = "test-bucket"


def test_changed_object_is_read_whole_after_ttl_never_mixed_with_old_blocks(fakegcs, mount):
    old = random.Random(1).randbytes(6 << 20)
    new = random.Random(2).randbytes(6 << 20)
    fakegcs.put(BUCKET, "model.bin", old)
    m = mount(args=["-o", "stat_ttl=1"])
    with open(m.p("model.bin"), "rb") as f:
        assert f.read() == old  # every block of the old generation is now cached
    fakegcs.put(BUCKET, "model.bin", new)
    time.sleep(1.5)
    with open(m.p("model.bin"), "rb") as f:
        assert f.read() == new


def test_within_the_ttl_the_cached_generation_is_served_whole(fakegcs, mount):
    old = random.Random(3).randbytes(3 << 20)
    fakegcs.put(BUCKET, "steady.bin", old)
    m = mount(args=["-o", "stat_ttl=60"])
    with open(m.p("steady.bin"), "rb") as f:
        assert f.read() == old
    fakegcs.put(BUCKET, "steady.bin", random.Random(4).randbytes(3 << 20))
    fakegcs.clear_log()
    with open(m.p("steady.bin"), "rb") as f:
        assert f.read() == old
    assert fakegcs.count("xml.get") == 0
