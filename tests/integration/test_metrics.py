"""Metrics: request counts by operation and price class, bytes, cache and cost, over HTTP on
loopback and in the log on SIGUSR1. The counts must agree with what the server saw."""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

from settle import settle

BUCKET = "test-bucket"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


def test_metrics_count_what_the_server_saw(fakegcs, mount):
    for i in range(5):
        fakegcs.put(BUCKET, f"d/f{i}", b"x" * 1000)
    port = free_port()
    m = mount(args=["--metrics-port", str(port)])
    os.listdir(m.p("d"))
    for i in range(5):
        with open(m.p("d", f"f{i}"), "rb") as f:
            f.read()
    with open(m.p("d", "new"), "wb") as f:
        f.write(b"y" * 5000)
    settle(m)
    seen = {}
    for e in fakegcs.log():
        seen[e["op"]] = seen.get(e["op"], 0) + 1
    v = scrape(port)
    for op, cls in (("objects.list", "A"), ("xml.get", "B"), ("objects.insert", "A"),
                    ("buckets.get", "B")):
        assert v[f'gcsmount_requests_total{{op="{op}",class="{cls}"}}'] == seen.get(op, 0), op
    class_a = sum(1 for e in fakegcs.log() if e["class"] == "A")
    class_b = sum(1 for e in fakegcs.log() if e["class"] == "B")
    assert v['gcsmount_class_requests_total{class="A"}'] == class_a
    assert v['gcsmount_class_requests_total{class="B"}'] == class_b
    cost = class_a * 0.005 / 1000 + class_b * 0.0004 / 1000
    assert abs(v["gcsmount_estimated_cost_dollars"] - cost) < 1e-6
    assert v['gcsmount_bytes_total{direction="out"}'] >= 5000
    assert v['gcsmount_bytes_total{direction="in"}'] >= 5 * 1000
    assert v['gcsmount_cache_misses_total{cache="memory"}'] >= 5
    # The five blocks read are held; their buffers are allocated, and spares may be kept.
    held = v['gcsmount_cache_bytes{cache="memory"}']
    assert v['gcsmount_cache_allocated_bytes{cache="memory"}'] >= held >= 5 * 1000


def test_retries_and_failures_are_counted(fakegcs, mount):
    fakegcs.put(BUCKET, "r.txt", b"retry me")
    port = free_port()
    m = mount(args=["--metrics-port", str(port)])
    m.expect_log(r"xml\.get r\.txt .*retry")
    os.stat(m.p("r.txt"))
    fakegcs.fault("xml.get", count=2, status=503)
    with open(m.p("r.txt"), "rb") as f:
        assert f.read() == b"retry me"
    v = scrape(port)
    assert v['gcsmount_request_retries_total{op="xml.get",class="B"}'] == 2
    assert v['gcsmount_requests_total{op="xml.get",class="B"}'] == 3
    assert v['gcsmount_request_failures_total{op="xml.get",class="B"}'] == 0


def test_sigusr1_writes_the_metrics_to_the_log(fakegcs, mount):
    fakegcs.put(BUCKET, "a", b"a")
    m = mount()
    os.listdir(m.path)
    m.proc.send_signal(signal.SIGUSR1)
    deadline = time.time() + 10
    while "metrics: objects.list" not in m.log() and time.time() < deadline:
        time.sleep(0.05)
    assert re.search(r"metrics: objects\.list \(class A\): 1 requests", m.log())
    assert "estimated operation cost $" in m.log()


def test_a_busy_metrics_port_fails_the_mount_with_its_number(fakegcs, tmp_path):
    from mounting import Mount
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        (tmp_path / "mnt").mkdir()
        m = Mount(fakegcs.url, BUCKET, tmp_path / "mnt", tmp_path / "log",
                  args=["--metrics-port", str(port), "--staging-dir", str(tmp_path / "st")])
        res = subprocess.run(m.command(), capture_output=True, timeout=30)
    assert res.returncode != 0
    assert f"127.0.0.1:{port}" in res.stderr.decode()
