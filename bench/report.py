#!/usr/bin/python3
"""Turning measurements into results: JSON, a markdown table, a chart, the README section.

The JSON file holds everything measured and is the source of the other outputs, so they can be
regenerated from it (`python3 bench/report.py bench/results/latest.json [--update-readme]`)
without running the benchmark again. The targets are read from the numbers here and only
reported, pass or miss; nothing fails because a target is missed.

Usage: report.py RESULTS.json [--update-readme]
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

ORDER = ["seq-read-cold", "seq-read-warm", "rand-4k", "rand-1m", "small-files", "ls-l",
         "write-big", "create-small", "rename-dir"]
TOOLS = ["gcsmount", "rclone"]
SHORT = {"seq-read-cold": "seq read cold", "seq-read-warm": "seq re-read warm",
         "rand-4k": "random 4 KiB", "rand-1m": "random 1 MiB", "small-files": "small files",
         "ls-l": "ls -l", "write-big": "write big file", "create-small": "create small files",
         "rename-dir": "rename a folder"}
GIB = float(1 << 30)


# --- looking things up -----------------------------------------------------------------------

def find(doc, workload, tool):
    for r in doc["results"]:
        if r["workload"] == workload and r["tool"] == tool:
            return r
    return None


def ok(doc, workload, tool):
    r = find(doc, workload, tool)
    return r if r is not None and r["status"] == "ok" else None


def raw_tools(doc):
    """The curl rows, most streams first."""
    tools = {r["tool"] for r in doc["results"] if r["tool"].startswith("curl")}
    return sorted(tools, key=lambda t: -int(re.sub(r"\D", "", t) or 0))


def cpu_per_gib(r):
    if r is None or r.get("cpu_s") is None or not r.get("bytes"):
        return None
    return r["cpu_s"] / (r["bytes"] / GIB)


# --- targets ---------------------------------------------------------------------------------

def targets(doc):
    """The goals gcsmount is measured against, each with what was reached and pass/miss."""
    out = []

    def add(name, goal, reached, needed, detail, higher=True):
        passed = None
        if reached is not None:
            passed = reached >= needed if higher else reached <= needed
        out.append({"target": name, "goal": goal, "reached": reached, "needed": needed,
                    "higher_is_better": higher, "pass": passed, "detail": detail})

    cold = ok(doc, "seq-read-cold", "gcsmount")
    rc_cold = ok(doc, "seq-read-cold", "rclone")
    raws = [t for t in raw_tools(doc) if t != "curl ×1"] or raw_tools(doc)
    raw = ok(doc, "seq-read-cold", raws[0]) if raws else None
    add("cold sequential read vs raw", "≥ 90%% of %s" % (raws[0] if raws else "curl ×N"),
        _ratio(cold, raw), 0.9,
        _pair(cold, raw, "MB/s", raws[0] if raws else "raw"))
    add("cold sequential read vs rclone", "≥ 2× rclone", _ratio(cold, rc_cold), 2.0,
        _pair(cold, rc_cold, "MB/s", "rclone"))
    warm = ok(doc, "seq-read-warm", "gcsmount")
    add("warm re-read", "> 1 GB/s", warm["value"] / 1000.0 if warm else None, 1.0,
        "%.0f MB/s" % warm["value"] if warm else "not measured")
    ls, rc_ls = ok(doc, "ls-l", "gcsmount"), ok(doc, "ls-l", "rclone")
    add("ls -l", "≥ 5× faster than rclone",
        rc_ls["seconds"] / ls["seconds"] if ls and rc_ls else None, 5.0,
        "%s s vs rclone %s s" % (num(ls and ls["seconds"]), num(rc_ls and rc_ls["seconds"])))
    small, rc_small = ok(doc, "small-files", "gcsmount"), ok(doc, "small-files", "rclone")
    add("small files, %d readers" % doc["sizes"]["small_readers"], "≥ 2× rclone",
        _ratio(small, rc_small), 2.0, _pair(small, rc_small, "files/s", "rclone"))
    mine, theirs = cpu_per_gib(cold), cpu_per_gib(rc_cold)
    add("CPU per GiB (cold sequential read)", "≤ ½ of rclone's",
        mine / theirs if mine is not None and theirs else None, 0.5,
        "%s vs rclone %s CPU-s per GiB" % (num(mine), num(theirs)), higher=False)
    for workload, label in (("rand-4k", "random 4 KiB reads"), ("rand-1m", "random 1 MiB reads")):
        r, rc = ok(doc, workload, "gcsmount"), ok(doc, workload, "rclone")
        add("%s vs rclone" % label, "≥ 1.5× rclone", _ratio(r, rc), 1.5,
            _pair(r, rc, UNIT_OF.get(workload, ""), "rclone"))
        mine, theirs = requests_per_op(r), requests_per_op(rc)
        add("requests per read, %s" % label[len("random "):-len(" reads")],
            "≤ rclone's", mine / theirs if mine is not None and theirs else None, 1.0,
            "%s vs rclone %s per read" % (num(mine), num(theirs)), higher=False)
    create, rc_create = ok(doc, "create-small", "gcsmount"), ok(doc, "create-small", "rclone")
    add("creating small files", "≥ 2× rclone", _ratio(create, rc_create), 2.0,
        _pair(create, rc_create, "files/s", "rclone"))
    moved, rc_moved = ok(doc, "rename-dir", "gcsmount"), ok(doc, "rename-dir", "rclone")
    add("renaming a folder", "≥ 2× rclone", _ratio(moved, rc_moved), 2.0,
        _pair(moved, rc_moved, "files/s", "rclone"))
    return out


UNIT_OF = {"rand-4k": "reads/s", "rand-1m": "MB/s"}


def requests_per_op(r):
    if r is None or not r.get("ops") or (r.get("requests") or {}).get("total") is None:
        return None
    return r["requests"]["total"] / r["ops"]


def _ratio(a, b):
    if a is None or b is None or not b.get("value"):
        return None
    return a["value"] / b["value"]


def _pair(a, b, unit, other):
    return "%s vs %s %s %s" % (num(a and a["value"]), other, num(b and b["value"]), unit)


def num(x):
    if x is None:
        return "–"
    if isinstance(x, int) or x == 0:
        return format(int(x), ",")
    if abs(x) >= 100:
        return format(round(x), ",")
    if abs(x) >= 10:
        return "%.1f" % x
    if abs(x) >= 1:
        return "%.2f" % x
    return "%.3f" % x


# --- markdown ------------------------------------------------------------------------------

def header_lines(doc):
    shape = doc["shape"]
    shape_text = "%g ms first-byte latency, %s" % (
        shape["latency_ms"],
        "%g MB/s per connection" % shape["bandwidth_mbps"] if shape["bandwidth_mbps"]
        else "no bandwidth cap")
    m, v = doc["machine"], doc["versions"]
    return [
        "Run on %s%s; test server shaped to %s." % (
            doc["date"], " (quick run, small sizes)" if doc.get("quick") else "", shape_text),
        "Machine: %d CPUs (%s), %s GiB memory, Linux %s." % (
            m["cpus"], m["cpu_model"], num(m["memory_gib"]), m["kernel"]),
        "Versions: %s (commit %s); %s." % (v["gcsmount"], v["commit"], v.get("rclone") or "rclone not run"),
    ]


def results_table(doc):
    titles = doc["titles"]
    lines = ["| Workload | Tool | Result | Time (s) | Requests | Requests per op | CPU-s | Peak RSS (MiB) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for workload in ORDER:
        rows = [r for r in doc["results"] if r["workload"] == workload]
        rows.sort(key=lambda r: _tool_rank(r["tool"]))
        first = True
        for r in rows:
            label = titles.get(workload, workload) if first else ""
            first = False
            if r["status"] == "ok":
                result = "%s %s" % (num(r["value"]), r["unit"])
                per = "%s / %s" % (num(r["requests_per_op"]), r["op_unit"])
            else:
                result = "**%s**" % r["status"]
                per = "–"
            total = r.get("requests", {}).get("total")
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label, r["tool"], result, num(r["seconds"]),
                num(total) if total is not None else "–", per, num(r["cpu_s"]),
                num(r["peak_rss_mib"])))
    return lines


def _tool_rank(tool):
    """gcsmount, rclone, then the curl rows with the most streams first."""
    if tool in TOOLS:
        return (TOOLS.index(tool), 0)
    return (len(TOOLS), -int(re.sub(r"\D", "", tool) or 0))


def targets_table(doc):
    lines = ["| Target | Goal | Reached | Measured | |", "|---|---|---:|---|---|"]
    for t in doc["targets"]:
        reached = "–"
        if t["reached"] is not None:
            reached = ("%.0f%%" % (100 * t["reached"]) if "%" in t["goal"]
                       else "%s GB/s" % num(t["reached"]) if "GB/s" in t["goal"]
                       else "%s×" % num(t["reached"]))
        verdict = {True: "pass", False: "**miss**", None: "not measured"}[t["pass"]]
        lines.append("| %s | %s | %s | %s | %s |" % (t["target"], t["goal"], reached,
                                                     t["detail"], verdict))
    return lines


def in_flight(doc, r):
    """At least how many requests were waiting at once, on average: the first-byte waits the
    server imposed, added up, over the wall time. About 1 or less means one at a time."""
    latency = doc["shape"]["latency_ms"] / 1000.0
    total = (r.get("requests") or {}).get("total")
    if not latency or not total or not r.get("seconds"):
        return None
    return total * latency / r["seconds"]


def detail_table(doc):
    lines = ["| Workload | Tool | Requests by operation | In flight (≥) | Answered (MiB) "
             "| Uploaded (MiB) | Server CPU-s |",
             "|---|---|---|---:|---:|---:|---:|"]
    for workload in ORDER:
        rows = sorted([r for r in doc["results"] if r["workload"] == workload],
                      key=lambda r: _tool_rank(r["tool"]))
        for r in rows:
            req = r.get("requests") or {}
            ops = ", ".join("%s %s" % (op, num(n)) for op, n in (req.get("by_op") or {}).items())
            unusual = req.get("non_2xx") or {}
            if unusual:
                ops += " (answers ≥ 400: %s)" % ", ".join(
                    "%s ×%d" % (k, n) for k, n in unusual.items())
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                SHORT.get(workload, workload), r["tool"], ops or "–", num(in_flight(doc, r)),
                num(req.get("bytes_out", 0) / 2**20) if req.get("bytes_out") is not None else "–",
                num(req.get("bytes_in", 0) / 2**20) if req.get("bytes_in") is not None else "–",
                num(r.get("server_cpu_s"))))
    return lines


def notes(doc):
    out = []
    for r in doc["results"]:
        name = "%s / %s" % (SHORT.get(r["workload"], r["workload"]), r["tool"])
        extra = r.get("extra") or {}
        if r["status"] != "ok":
            out.append("%s: **%s**: %s" % (name, r["status"], one_line(r["error"])))
        if extra.get("stopped_by_budget"):
            out.append("%s: stopped by the %s s budget after %d of %d reads." % (
                name, num(doc["sizes"]["rand_budget_s"]), r["ops"], extra["planned_reads"]))
        if "returned_after_s" in extra and r["seconds"] and \
                extra["returned_after_s"] < 0.9 * r["seconds"]:
            out.append("%s: the writer was done after %s s; uploads finished at %s s." % (
                name, num(extra["returned_after_s"]), num(r["seconds"])))
        if extra.get("exit_code") not in (None, 0) and r["status"] != "timeout":
            out.append("%s: the client exited with %s when unmounted." % (name, extra["exit_code"]))
        if extra.get("page_cache_dropped") is False:
            out.append("%s: the page cache could not be dropped (not root)." % name)
        if extra.get("note"):
            out.append("%s: %s" % (name, one_line(extra["note"])))
    return out


def one_line(text):
    text = " ".join(str(text).split())
    return text[:400] + ("…" if len(text) > 400 else "")


def markdown(doc, chart_name):
    lines = ["# gcsmount benchmark results", ""]
    lines += header_lines(doc) + [""]
    if doc.get("aborted"):
        lines += ["**The run was aborted** (%s); the results below are partial." % one_line(
            doc["aborted"]), ""]
    lines += ["How each client ran:", ""]
    for tool, text in doc["settings"].items():
        lines.append("- %s: `%s`" % (tool, text))
    lines += ["",
              "Each workload ran on a fresh mount after the kernel page cache was dropped; the "
              "warm re-read follows the cold read on the same mount. MB/s is 10^6 bytes per "
              "second. Written data counts as done once the server has it. Requests are "
              "counted by the server; CPU-s and peak RSS are the mount daemon's (for curl, all "
              "curl processes together and the largest one).", "",
              "## Results", ""]
    lines += results_table(doc)
    if chart_name:
        lines += ["", "![chart](%s)" % chart_name]
    lines += ["", "## Targets for gcsmount", ""]
    lines += targets_table(doc)
    lines += ["", "## Requests in detail", ""]
    lines += detail_table(doc)
    lines += ["", "In flight (≥) is the number of requests × the first-byte latency, over the "
              "time taken: a lower bound of how many requests were outstanding at once on "
              "average (transfer time not included). Answered is the size of the answers the "
              "server started to send; a client that hangs up early (rclone reads open-ended "
              "ranges and stops when it has enough) received less."]
    extra = notes(doc)
    if extra:
        lines += ["", "## Notes", ""] + ["- " + n for n in extra]
    return "\n".join(lines) + "\n"


# --- chart -----------------------------------------------------------------------------------

def chart(doc, path):
    """Grouped bars with gnuplot: speed relative to rclone (log scale), and daemon CPU.

    Speeds are in different units per workload, so each is divided by rclone's figure for the
    same workload (or gcsmount's when rclone did not run); bar labels give the real numbers.
    Returns False (and writes nothing) when there is nothing to plot."""
    gnuplot = shutil.which("gnuplot")
    base_tool = "rclone" if any(ok(doc, w, "rclone") for w in ORDER) else "gcsmount"
    series = TOOLS + raw_tools(doc)
    rows_speed, rows_cpu, speeds, cpus = [], [], [], []
    for workload in ORDER:
        if not any(r["workload"] == workload for r in doc["results"]):
            continue
        base = ok(doc, workload, base_tool)
        speed, cpu = [], []
        for tool in series:
            r = ok(doc, workload, tool)
            if r is None or not base or not base["value"] or not r["value"]:
                speed += ["-", '""']
            else:
                speeds.append(r["value"] / base["value"])
                speed += ["%.6g" % speeds[-1], '"%s %s"' % (num(r["value"]), r["unit"])]
            if r is None or r.get("cpu_s") is None or tool not in TOOLS:
                cpu += ["-", '""']
            else:
                cpus.append(max(r["cpu_s"], 0.001))
                cpu += ["%.6g" % cpus[-1], '"%s"' % num(r["cpu_s"])]
        label = '"%s"' % SHORT[workload]
        rows_speed.append(" ".join([label] + speed))
        rows_cpu.append(" ".join([label] + cpu))
    if not speeds:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        speed_file, cpu_file = os.path.join(tmp, "speed.dat"), os.path.join(tmp, "cpu.dat")
        with open(speed_file, "w") as handle:
            handle.write("\n".join(rows_speed) + "\n")
        with open(cpu_file, "w") as handle:
            handle.write("\n".join(rows_cpu) + "\n")
        script = _gnuplot_script(doc, path, (speed_file, _log_range(speeds)),
                                 (cpu_file, _log_range(cpus or [1.0])), series, base_tool)
        res = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
        if res.returncode != 0:
            raise RuntimeError("gnuplot failed: %s" % res.stderr)
    return True


def _log_range(values):
    """A log-scale range around values, with headroom above for the bar labels."""
    lo, hi = min(values), max(values)
    return (10 ** math.floor(math.log10(lo * 0.8)), 10 ** math.ceil(math.log10(hi * 30)))


def _gnuplot_script(doc, path, speed, cpu, series, base_tool):
    n = len(series)
    gap = 1
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#98df8a"]
    shape = doc["shape"]
    title = "gcsmount vs rclone mount, server shaped to %g ms first byte, %s (%s)" % (
        shape["latency_ms"], "%g MB/s per connection" % shape["bandwidth_mbps"]
        if shape["bandwidth_mbps"] else "no bandwidth cap", doc["date"][:10])

    def plots(datafile):
        parts = []
        for i, tool in enumerate(series):
            first = "'%s'" % datafile if i == 0 else "''"
            xtic = ":xtic(1)" if i == 0 else ""
            parts.append("%s using %d%s title '%s' lc rgb '%s'" % (
                first, 2 + 2 * i, xtic, tool, colors[i % len(colors)]))
        for i in range(n):
            col = 2 + 2 * i
            offset = (i - (n - 1) / 2.0) / (n + gap)
            parts.append("'' using ($0+%.4f):%d:%d notitle with labels rotate by 90 left "
                         "offset 0,0.3 font ',8'" % (offset, col, col + 1))
        return ", \\\n  ".join(parts)

    return "\n".join([
        "set terminal pngcairo size 1400,1000 font 'DejaVu Sans,10'",
        "set output '%s'" % path,
        "set datafile missing '-'",
        "set style data histogram",
        "set style histogram clustered gap %d" % gap,
        "set style fill solid 0.85 border -1",
        "set boxwidth 0.95",
        "set key top right",
        "set grid ytics",
        "set multiplot layout 2,1 title '%s' font ',12'" % title,
        "set logscale y",
        "set yrange [%g:%g]" % speed[1],
        "set format y '%g×'",
        "set ylabel 'speed relative to %s (log scale)'" % base_tool,
        "plot " + plots(speed[0]),
        "set yrange [%g:%g]" % cpu[1],
        "set format y '%g'",
        "set ylabel 'mount daemon CPU seconds (log scale)'",
        "plot " + plots(cpu[0]),
        "unset multiplot",
        ""])


# --- README -----------------------------------------------------------------------------------

def readme_section(doc, results_dir_rel, base):
    lines = ["## Performance", ""]
    lines += ["Measured with `bench/run` (see `bench/README.md`): gcsmount and `rclone mount` "
              "against the bundled test server shaped like GCS seen from a VM. " +
              " ".join(header_lines(doc)), ""]
    lines += results_table(doc)
    lines += ["", "![benchmark chart](%s/%s.png)" % (results_dir_rel, base), ""]
    lines += targets_table(doc)
    lines += ["", "Requests by operation, bytes moved and notes: `%s/%s.md`."
              % (results_dir_rel, base), ""]
    return lines


def update_readme(doc, readme_path, results_dir_rel, base):
    """Replace (or add, before ## License) the README's Performance section."""
    with open(readme_path) as handle:
        text = handle.read()
    section = "\n".join(readme_section(doc, results_dir_rel, base)).rstrip("\n") + "\n\n"
    pattern = re.compile(r"^## Performance\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    elif "\n## License" in text:
        text = text.replace("\n## License", "\n" + section + "## License", 1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    text = text.rstrip("\n") + "\n"
    with open(readme_path, "w") as handle:
        handle.write(text)


# --- all outputs --------------------------------------------------------------------------------

def write_all(doc, out_dir, base):
    """Write BASE.json, BASE.md and BASE.png into out_dir; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    doc["targets"] = targets(doc)
    paths = {"json": os.path.join(out_dir, base + ".json"),
             "md": os.path.join(out_dir, base + ".md"),
             "png": os.path.join(out_dir, base + ".png")}
    with open(paths["json"], "w") as handle:
        json.dump(doc, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    if shutil.which("gnuplot") is None:
        print("bench: gnuplot is not installed; no chart (apt-get install gnuplot-nox)")
        del paths["png"]
    elif not chart(doc, paths["png"]):
        del paths["png"]
    with open(paths["md"], "w") as handle:
        handle.write(markdown(doc, os.path.basename(paths.get("png", ""))))
    return paths


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[-1])
        return 2
    path = argv[0]
    with open(path) as handle:
        doc = json.load(handle)
    out_dir = os.path.dirname(os.path.abspath(path))
    base = os.path.splitext(os.path.basename(path))[0]
    written = write_all(doc, out_dir, base)
    if "--update-readme" in argv[1:]:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        update_readme(doc, os.path.join(repo, "README.md"), os.path.relpath(out_dir, repo), base)
        written["readme"] = os.path.join(repo, "README.md")
    for kind, p in written.items():
        print("bench: wrote %s" % p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
