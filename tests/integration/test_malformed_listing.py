"""A listing page with one malformed entry shows the rest of the directory: the bad entry is
left out with a warning that names it, instead of the whole listing failing."""
import os

BUCKET = "test-bucket"


def seed(fakegcs):
    for name in ("dir/a.txt", "dir/b.txt", "dir/c.txt", "dir/sub/x"):
        fakegcs.put(BUCKET, name, name.encode())


def test_entry_without_size_is_left_out_with_a_warning(fakegcs, mount):
    seed(fakegcs)
    fakegcs.fault("objects.list", count=100, break_item={"name": "dir/b.txt", "field": "size"})
    m = mount()
    m.expect_log(r"warning: listing: entry 'dir/b\.txt' .* left out")
    assert sorted(os.listdir(m.p("dir"))) == ["a.txt", "c.txt", "sub"]
    assert open(m.p("dir", "c.txt"), "rb").read() == b"dir/c.txt"
    assert "listing: entry 'dir/b.txt'" in m.log()


def test_entry_with_a_generation_that_is_no_number_is_left_out(fakegcs, mount):
    seed(fakegcs)
    fakegcs.fault("objects.list", count=100,
                  break_item={"name": "dir/a.txt", "field": "generation", "value": "abc"})
    m = mount()
    m.expect_log(r"warning: listing: entry 'dir/a\.txt' .* left out")
    assert sorted(os.listdir(m.p("dir"))) == ["b.txt", "c.txt", "sub"]
    assert "listing: entry 'dir/a.txt'" in m.log()


def test_entry_without_a_name_is_left_out(fakegcs, mount):
    seed(fakegcs)
    fakegcs.fault("objects.list", count=100, break_item={"name": "dir/c.txt", "field": "name"})
    m = mount()
    m.expect_log(r"warning: listing: an entry without a name is left out")
    assert sorted(os.listdir(m.p("dir"))) == ["a.txt", "b.txt", "sub"]
