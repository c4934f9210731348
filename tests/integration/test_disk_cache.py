"""The disk cache: blocks survive a remount, and a damaged block is caught and fetched again."""
import os
import random
import socket
import urllib.request

BUCKET = "test-bucket"


def block_files(cache_dir):
    root = os.path.join(cache_dir, BUCKET)
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
            if f != "lock" and not f.startswith("tmp.")]


def test_blocks_survive_a_remount_and_serve_reads_without_requests(fakegcs, mount, tmp_path):
    data = random.Random(21).randbytes(5 << 20)
    fakegcs.put(BUCKET, "data.bin", data)
    cache = str(tmp_path / "cache")
    first = mount(args=["--cache-dir", cache])
    assert open(first.p("data.bin"), "rb").read() == data
    first.stop()
    assert len(block_files(cache)) == 5

    second = mount(args=["--cache-dir", cache])
    os.stat(second.p("data.bin"))
    fakegcs.clear_log()
    assert open(second.p("data.bin"), "rb").read() == data
    assert fakegcs.count("xml.get") == 0


def test_a_damaged_block_is_detected_and_fetched_again(fakegcs, mount, tmp_path):
    data = random.Random(22).randbytes(3 << 20)
    fakegcs.put(BUCKET, "fragile.bin", data)
    cache = str(tmp_path / "cache")
    first = mount(args=["--cache-dir", cache])
    assert open(first.p("fragile.bin"), "rb").read() == data
    first.stop()
    victim = sorted(block_files(cache))[0]
    with open(victim, "r+b") as f:
        f.seek(os.path.getsize(victim) - 100)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    second = mount(args=["--cache-dir", cache, "--metrics-port", str(port)])
    os.stat(second.p("fragile.bin"))
    fakegcs.clear_log()
    assert open(second.p("fragile.bin"), "rb").read() == data
    assert fakegcs.count("xml.get") == 1
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    assert 'gcsmount_cache_corrupt_total{cache="disk"} 1' in text


def test_disk_cache_without_memory_cache_is_refused(fakegcs, tmp_path):
    import subprocess
    from mounting import Mount
    (tmp_path / "mnt").mkdir()
    m = Mount(fakegcs.url, BUCKET, tmp_path / "mnt", tmp_path / "log",
              args=["--cache-dir", str(tmp_path / "c"), "--cache-size-mb", "0",
                    "--staging-dir", str(tmp_path / "st")])
    res = subprocess.run(m.command(), capture_output=True, timeout=30)
    assert res.returncode != 0 and "cache_dir" in res.stderr.decode()
