#!/usr/bin/python3
"""bench/mproc.py - many processes on one table (issue #16): aggregate
throughput with 1, 2 and 4 processes, a kvstore table beside an ordinary
WITHOUT ROWID table driven the same way by the same worker processes.

    /usr/bin/python3 bench/mproc.py [--rows N] [--duration S] [--reps R]
        [--procs 1,2,4] [--workloads point_read,write,write_batch]
        [--ext ./kvstore] [--dir SCRATCH] [--out DIR]

Schema and settings as bench/sqlbench.c: kvstore(sync=normal,
memtable_size='4MiB', cache_size='8MiB'); the ordinary table in the same
database mode, WAL + synchronous=NORMAL, cache_size 8 MiB per connection.
Both tables hold --rows rows, key = 16-digit text of 0..N-1 inserted in a
random order, value = a 100-byte blob (half compressible).

Workloads (every worker of a run starts at the same instant and stops after
--duration seconds; busy errors wait in the busy handler, 30 s):
  point_read    SELECT value FROM t WHERE key = ?, random existing keys
  write         INSERT OR REPLACE of one random existing key, autocommit
  write_batch   BEGIN IMMEDIATE, 100 INSERT OR REPLACE, COMMIT

Each (workload, processes) runs --reps rounds, the two tables alternating
within every round; the table shows each one's median aggregate ops/s
(the sum over its workers), and the peak RSS of a worker process
(VmHWM of /proc/self/status at its end, the largest over its workers and
rounds). The issue's targets follow, each with its verdict. --out writes
mproc.md and mproc.csv (every run) there.
"""
import argparse
import json
import os
import random
import select
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ME = os.path.abspath(__file__)
BACKENDS = ("kvstore", "table")
CREATE = {
    "kvstore": "CREATE VIRTUAL TABLE t USING kvstore(sync=normal, "
               "memtable_size='4MiB', cache_size='8MiB')",
    "table": "CREATE TABLE t(key TEXT PRIMARY KEY NOT NULL, value) "
             "WITHOUT ROWID",
}
BATCH = 100


def connect(path, ext):
    c = sqlite3.connect(path, timeout=30, isolation_level=None)
    c.enable_load_extension(True)
    c.load_extension(ext)
    c.enable_load_extension(False)
    c.execute("PRAGMA cache_size=-8192")
    return c


def value(rng):
    half = bytes(rng.randrange(32, 127) for _ in range(50))
    return half + half


def keyed_order(n, seed):
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def load(path, backend, ext, rows):
    c = connect(path, ext)
    c.execute("PRAGMA journal_mode=WAL").fetchall()
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute(CREATE[backend])
    rng = random.Random(1)
    order = keyed_order(rows, 2)
    for i in range(0, rows, 1000):
        c.execute("BEGIN")
        c.executemany("INSERT INTO t VALUES (?, ?)",
                      (("%016d" % k, value(rng)) for k in order[i:i + 1000]))
        c.execute("COMMIT")
    c.close()


def vmhwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def worker(a):
    """One worker process: connect, warm up, say ready, wait for the start
    time on stdin, run the workload until the deadline, print JSON."""
    c = connect(a["db"], a["ext"])
    c.execute("PRAGMA synchronous=NORMAL")
    rows = a["rows"]
    rng = random.Random(a["seed"])
    keys = ["%016d" % rng.randrange(rows) for _ in range(20000)]
    vals = [value(rng) for _ in range(64)]
    for k in keys[:200]:
        c.execute("SELECT value FROM t WHERE key = ?", (k,)).fetchall()
    print("ready", flush=True)
    start, deadline = (float(x) for x in sys.stdin.readline().split())
    while time.monotonic() < start:
        pass
    ops = busy = 0
    nk = len(keys)
    ex = c.execute
    w = a["workload"]
    t0 = time.monotonic()
    try:
        if w == "point_read":
            sql = "SELECT value FROM t WHERE key = ?"
            while True:
                for i in range(0, 200):
                    ex(sql, (keys[(ops + i) % nk],)).fetchone()
                ops += 200
                if time.monotonic() >= deadline:
                    break
        elif w == "write":
            sql = "INSERT OR REPLACE INTO t VALUES (?, ?)"
            while time.monotonic() < deadline:
                try:
                    ex(sql, (keys[ops % nk], vals[ops % 64]))
                    ops += 1
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e):
                        raise
                    busy += 1
        elif w == "write_batch":
            sql = "INSERT OR REPLACE INTO t VALUES (?, ?)"
            while time.monotonic() < deadline:
                try:
                    ex("BEGIN IMMEDIATE")
                    for i in range(BATCH):
                        ex(sql, (keys[(ops + i) % nk], vals[i % 64]))
                    ex("COMMIT")
                    ops += BATCH
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e):
                        raise
                    if c.in_transaction:
                        ex("ROLLBACK")
                    busy += 1
        else:
            raise SystemExit("unknown workload %s" % w)
        secs = time.monotonic() - t0
        c.close()
        print(json.dumps({"ops": ops, "secs": secs, "busy": busy,
                          "hwm_kb": vmhwm_kb()}), flush=True)
    except sqlite3.Error as e:
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}),
              flush=True)


def run(path, backend, ext, rows, workload, nproc, duration, seed):
    """One run: nproc workers at once. {"ops_s", "hwm_kb"} or
    {"error"}."""
    procs = []
    for p in range(nproc):
        procs.append(subprocess.Popen(
            [sys.executable, ME, "--worker", json.dumps({
                "db": path, "ext": ext, "rows": rows, "workload": workload,
                "seed": seed * 100 + p})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    try:
        for p in procs:
            r, _, _ = select.select([p.stdout], [], [], 120)
            line = p.stdout.readline() if r else ""
            if line.strip() != "ready":
                p.kill()
                err = p.communicate()[1].strip().splitlines()
                raise RuntimeError("worker not ready: %s"
                                   % (err[-1] if err else "no answer"))
        start = time.monotonic() + 0.05
        for p in procs:
            p.stdin.write("%.6f %.6f\n" % (start, start + duration))
            p.stdin.flush()
        res = []
        for p in procs:
            out, err = p.communicate(timeout=duration + 120)
            lines = [x for x in out.splitlines() if x.startswith("{")]
            if not lines:
                err = err.strip().splitlines()
                raise RuntimeError("worker said nothing: %s"
                                   % (err[-1] if err else "no output"))
            res.append(json.loads(lines[-1]))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        for p in procs:
            p.kill()
            p.communicate()
        return {"error": str(e)}
    errs = [r["error"] for r in res if "error" in r]
    if errs:
        return {"error": errs[0]}
    return {"ops_s": sum(r["ops"] / r["secs"] for r in res),
            "hwm_kb": max(r["hwm_kb"] for r in res),
            "busy": sum(r["busy"] for r in res)}


def fmt(x):
    if x is None:
        return "-"
    return "{:,.0f}".format(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--procs", default="1,2,4")
    ap.add_argument("--workloads", default="point_read,write,write_batch")
    ap.add_argument("--ext", default=os.path.join(ROOT, "kvstore"))
    ap.add_argument("--dir", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--command", default=None,
                    help="the command line to print in the report")
    ap.add_argument("--worker", default=None)
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    procs = [int(x) for x in args.procs.split(",")]
    workloads = args.workloads.split(",")
    scratch = tempfile.mkdtemp(prefix="kvmproc-bench-", dir=args.dir)
    t00 = time.time()
    runs = []
    cells = {}
    try:
        paths = {}
        for b in BACKENDS:
            paths[b] = os.path.join(scratch, b + ".db")
            t0 = time.time()
            load(paths[b], b, args.ext, args.rows)
            print("mproc: loaded %s, %d rows, %.1fs" % (b, args.rows,
                                                        time.time() - t0),
                  flush=True)
        seed = 0
        for w in workloads:
            for n in procs:
                for rep in range(args.reps):
                    for b in BACKENDS:
                        seed += 1
                        r = run(paths[b], b, args.ext, args.rows, w, n,
                                args.duration, seed)
                        runs.append((w, n, b, rep, r))
                        cells.setdefault((w, n, b), []).append(r)
                        print("  %-11s %d proc.  %-7s %s" % (
                            w, n, b, r.get("error") or
                            "%12s ops/s  peak RSS %6.1f MB/process" % (
                                fmt(r["ops_s"]), r["hwm_kb"] / 1024)),
                              flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def med(w, n, b):
        rs = cells.get((w, n, b), [])
        ok = [r["ops_s"] for r in rs if "ops_s" in r]
        if not ok or len(ok) < len(rs):
            return None
        return statistics.median_low(ok)

    def rss(w, n, b):
        ok = [r["hwm_kb"] for r in cells.get((w, n, b), []) if "hwm_kb" in r]
        return max(ok) / 1024 if ok else None

    def err(w, n, b):
        for r in cells.get((w, n, b), []):
            if "error" in r:
                return r["error"]
        return None

    cmd = args.command or " ".join(["/usr/bin/python3", "bench/mproc.py"] +
                                   sys.argv[1:])
    md = ["# mproc: many processes on one table", "",
          "Command: `%s`; %d rows, %.1f s per run, %d round(s), median; "
          "%s; %.0f s in all." % (cmd, args.rows, args.duration, args.reps,
                                 time.strftime("%Y-%m-%d %H:%M UTC",
                                               time.gmtime()),
                                 time.time() - t00), "",
          "| workload | processes | kvstore ops/s | ordinary ops/s | ratio "
          "| kvstore vs 1 process | peak RSS per process kvstore / ordinary "
          "(MB) |", "|---|---|---|---|---|---|---|"]
    for w in workloads:
        for n in procs:
            k, o = med(w, n, "kvstore"), med(w, n, "table")
            k1 = med(w, 1, "kvstore")
            rk, ro = rss(w, n, "kvstore"), rss(w, n, "table")
            md.append("| %s | %d | %s | %s | %s | %s | %s / %s |" % (
                w, n, fmt(k) if k is not None else "error",
                fmt(o) if o is not None else "error",
                "%.2fx" % (k / o) if k and o else "-",
                "%.2fx" % (k / k1) if k and k1 else "-",
                "%.1f" % rk if rk else "-", "%.1f" % ro if ro else "-"))
    targets = []

    def target(label, a, b, want, why_missing):
        if a is None or b is None:
            targets.append((label, "not run: %s" % why_missing, "?"))
            return
        r = a / b
        targets.append((label, "%.2fx (%s vs %s ops/s)" % (r, fmt(a),
                                                           fmt(b)),
                        "holds" if r >= want else "does not hold"))

    if "point_read" in workloads and 1 in procs and 2 in procs:
        target("point reads, kvstore: 2 processes >= 1.6x 1 process",
               med("point_read", 2, "kvstore"),
               med("point_read", 1, "kvstore"), 1.6,
               err("point_read", 2, "kvstore") or
               err("point_read", 1, "kvstore"))
    for w, ns in (("point_read", (1, 2, 4)), ("write", (2, 4)),
                  ("write_batch", (2, 4))):
        if w not in workloads:
            continue
        for n in ns:
            if n in procs:
                target("%s, %d process%s: kvstore >= ordinary table"
                       % (w, n, "" if n == 1 else "es"),
                       med(w, n, "kvstore"), med(w, n, "table"),
                       1.0, err(w, n, "kvstore") or err(w, n, "table"))
    md += ["", "| target | measured | verdict |", "|---|---|---|"]
    md += ["| %s | %s | %s |" % t for t in targets]
    if args.rows != 1000000:
        md += ["", "Note: the targets are stated for 1M rows; this run used "
               "%d." % args.rows]
    text = "\n".join(md) + "\n"
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "mproc.md"), "w") as f:
            f.write(text)
        with open(os.path.join(args.out, "mproc.csv"), "w") as f:
            f.write("workload,processes,backend,round,ops_per_sec,"
                    "peak_rss_mb_per_process,busy,error\n")
            for w, n, b, rep, r in runs:
                f.write("%s,%d,%s,%d,%s,%s,%s,%s\n" % (
                    w, n, b, rep, "%.0f" % r["ops_s"] if "ops_s" in r else "",
                    "%.1f" % (r["hwm_kb"] / 1024) if "hwm_kb" in r else "",
                    r.get("busy", ""),
                    '"%s"' % r["error"].replace('"', "'")
                    if "error" in r else ""))


if __name__ == "__main__":
    main()
