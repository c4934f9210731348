"""Large directories are listed as several key ranges at once (list_parallel): whatever the
names look like, the listing holds every entry exactly once, like a listing page by page."""
import errno
import hashlib
import os

import pytest

BUCKET = "test-bucket"


def seed(fakegcs, names):
    for name in names:
        fakegcs.put(BUCKET, "big/" + name, b"x")


def listed(m):
    return sorted(os.listdir(m.p("big")))


# Names that count (f00000...), that do not (hashes), words in both cases, subdirectories
# among files, names outside ASCII and with spaces: each run of names splits differently.
PATTERNS = {
    "numbered": [f"f{i:05d}" for i in range(2300)],
    "hashes": [hashlib.sha1(str(i).encode()).hexdigest()[:12] for i in range(2300)],
    "mixed": ([f"Report {i:04d}.pdf" for i in range(700)] + [f"data_{i}" for i in range(900)]
              + [f"été-{i}" for i in range(300)] + [f"zz{i}" for i in range(300)]),
}


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_parallel_listing_shows_every_name_once(fakegcs, mount, pattern):
    names = PATTERNS[pattern]
    seed(fakegcs, names)
    m = mount()
    assert listed(m) == sorted(names)
    assert sum(1 for e in fakegcs.log() if "startOffset" in e["query"]) > 0, \
        "the listing was not split into key ranges"


def test_subdirectories_between_files_are_listed_once_as_directories(fakegcs, mount):
    files = [f"f{i:05d}" for i in range(1500)]
    dirs = [f"f{i:05d}x" for i in range(0, 1500, 7)]  # sort between the files
    seed(fakegcs, files)
    for d in dirs:
        fakegcs.put(BUCKET, f"big/{d}/inner", b"y")
    m = mount()
    assert listed(m) == sorted(files + dirs)
    for d in dirs[:5]:
        assert os.path.isdir(m.p("big", d))


def test_parallel_and_paged_listings_agree(fakegcs, mount):
    names = PATTERNS["mixed"]
    seed(fakegcs, names)
    parallel = mount()
    paged = mount(args=["-o", "list_parallel=1"])
    assert listed(parallel) == listed(paged) == sorted(names)


def test_failed_list_requests_are_retried_and_the_listing_is_complete(fakegcs, mount):
    names = PATTERNS["numbered"]
    seed(fakegcs, names)
    m = mount()
    m.expect_log(r"objects\.list.*HTTP 503.*retry")
    os.listdir(m.path)
    fakegcs.fault("objects.list", count=2, status=503)
    assert listed(m) == sorted(names)
    assert not fakegcs.pending_faults()


def test_a_denied_listing_fails_with_eacces_and_the_mount_goes_on(fakegcs, mount):
    seed(fakegcs, PATTERNS["numbered"])
    m = mount()
    m.expect_log(r"objects\.list.*403")
    os.listdir(m.path)
    fakegcs.fault("objects.list", count=1000, status=403)
    with pytest.raises(OSError) as err:
        os.listdir(m.p("big"))
    assert err.value.errno == errno.EACCES
    fakegcs.clear_faults()
    assert len(os.listdir(m.p("big"))) == len(PATTERNS["numbered"])
