#!/usr/bin/python3
"""bench/report.py - turns the CSVs of bench/run.sh into Markdown and a chart.

    /usr/bin/python3 bench/report.py [RESULTS_DIR]     (default bench/results)

Reads kvbench.csv, kvbench_modes.csv, sqlbench.csv and env.txt from
RESULTS_DIR (any CSV may be missing) and writes there:

    kvbench.md     one row per workload and engine, with the ratio of
                   kvstore's ops/s to that engine's, then one table per
                   compression mode (default, none, fast)
    sqlbench.md    one row per SQL test, kvstore table vs ordinary table
    summary.md     run parameters, the issue's targets with pass/fail, the
                   engine targets against the peers per compression mode,
                   and the tables (this is what bench/README.md shows)
    kvbench.dat    ops/s per workload (rows) and engine (columns) for gnuplot
    kvbench.png    the chart, drawn by bench/plot.gp (if gnuplot is there)
"""
import csv
import os
import subprocess
import sys

ENGINES = ["kvstore", "leveldb", "rocksdb", "lmdb", "sqlite"]
ASSERT_NOTE = ("Debian's RocksDB (librocksdb7.8) and LevelDB (libleveldb1d) "
               "packages are built with assertions enabled, which slows "
               "them; marked † beside their figures (`make bench-peers` "
               "builds release libraries of the same versions, which `make "
               "bench` then uses).")
# True when env.txt says the peers ran on the release builds of
# bench/peers.sh (peers=release); set by main().
RELEASE_PEERS = False
MODE_NOTE = {
    "default": "Each engine its default: kvstore uncompressed, LevelDB and "
               "RocksDB snappy, LMDB none",
    "none": "Every engine uncompressed (kvstore compression=none, LevelDB "
            "and RocksDB kNoCompression; LMDB never compresses)",
    "fast": "Each engine its fastest compressor: kvstore compression=zlib "
            "(the only one its dependencies allow), LevelDB snappy, RocksDB "
            "lz4 (snappy when built without); LMDB not run",
}
MODE_PEERS = ["leveldb", "rocksdb", "lmdb"]
CONFIG_NOTE = (
    "Every engine: 4 MiB write buffer / memtable, 8 MiB block cache (SQLite: "
    "8 MiB page cache; LMDB has none, it reads through the OS page cache), "
    "10-bit bloom filters (kvstore, LevelDB, RocksDB). Compression: kvstore "
    "its default, none (zlib is an option); LevelDB and RocksDB their "
    "default, snappy. Unsynced "
    "writes: kvstore sync=normal, LevelDB/RocksDB sync=false, LMDB "
    "MDB_NOSYNC, SQLite WAL + synchronous=NORMAL; fillsync: kvstore "
    "sync=full, sync=true, LMDB default (synced), SQLite synchronous=FULL. "
    "Keys 16 bytes, values 100 bytes half compressible. Each workload runs "
    "in a fresh process per engine, engines interleaved; the read-only "
    "workloads (readrandom, readmissing, readhot, readseq, readreverse, "
    "seekrandom) run BENCH_READ_REPS times ({reps}), engines alternating in each "
    "round, and each engine's row is its median run (every run: "
    "kvbench_runs.csv). ops/s counts "
    "key-value operations (fillbatch: rows, whose p50/p99 are per batch of "
    "1000; seekrandom: one seek + 10 nexts; ycsbe: a scan of 1-100 entries "
    "or an insert). Workloads other than the fills stop after the duration "
    "cap (see the run line) and report the ops done.")
WAMP_NOTE = (
    "Write amplification `WA io` = (write_bytes - cancelled_write_bytes) of "
    "/proc/self/io from open to close, over the user bytes (key + value) "
    "written; page-granular (a page dirtied twice before writeback counts "
    "once), so B-trees in place (LMDB, SQLite) can read low on overwrites and "
    "high on small commits. `WA eng` is kvstore's own figure from kv_stats "
    "((WAL + flush + compaction bytes) / user bytes). `fsync/commit` is "
    "kv_stats WAL syncs over the commits the driver made (kvstore only; "
    "kv_stats' own `commits` counts commit groups).")


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_env(path):
    env = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def fmt_ops(v):
    if v is None:
        return "-"
    if v >= 100:
        return "{:,.0f}".format(v)
    return "{:.1f}".format(v)


def fmt(v, nd=2):
    return "-" if v is None else "{:.{}f}".format(v, nd)


def mark(engine):
    if RELEASE_PEERS:
        return engine
    return engine + " †" if engine in ("leveldb", "rocksdb") else engine


def peers_note(env):
    """Which LevelDB and RocksDB the run used, for the head of each file."""
    if RELEASE_PEERS:
        return ("LevelDB and RocksDB: release builds (CMake Release, "
                "-DNDEBUG, Debian's compression libraries) of these Debian "
                "versions from Debian's source packages (`make bench-peers`), "
                "loaded with LD_LIBRARY_PATH: `{}`, `{}`.".format(
                    os.path.basename(env.get("lib_leveldb", "?")),
                    os.path.basename(env.get("lib_rocksdb", "?")))
                + " Files under `{}`.".format(
                    shorten(env.get("peers_lib", "build/peers/lib"))))
    return ASSERT_NOTE


def shorten(path):
    """A path below the repository as a relative one (no machine paths in
    the committed results)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if path.startswith(root + os.sep):
        return os.path.relpath(path, root)
    return path


def footnote():
    return "" if RELEASE_PEERS else "\n† " + ASSERT_NOTE + "\n"


def mode_tables(kvrows, moderows, env):
    """Per compression mode, its workloads with kvstore's ops/s and each
    peer's with kvstore ÷ peer. The default mode's figures come from the
    main run (kvbench.csv); the others from kvbench_modes.csv."""
    workloads = env.get("mode_workloads",
                        "fillrandom readrandom readseq").split()
    by = {"default": {}}
    for r in kvrows:
        if r["workload"] in workloads:
            by["default"].setdefault(r["workload"], {})[r["engine"]] = r
    for r in moderows:
        by.setdefault(r["mode"], {}).setdefault(r["workload"], {})[
            r["engine"]] = r
    out = []
    for m in ["default", "none", "fast"]:
        if not by.get(m):
            continue
        used = {}
        for w in by[m].values():
            for e, r in w.items():
                used.setdefault(e, r.get("compression") or "default")
        peers = [e for e in MODE_PEERS if e in used]
        out.append("#### compression: {}\n".format(m))
        out.append(MODE_NOTE[m] + ". Asked of each engine: " + ", ".join(
            "{} {}".format(e, used[e]) for e in ["kvstore"] + peers
            if e in used) + ".\n")
        head = "| workload | kvstore ops/s |"
        rule = "|---|---:|"
        for e in peers:
            head += " {} ops/s | kvstore ÷ {} |".format(mark(e), e)
            rule += "---:|---:|"
        out += [head, rule]
        for w in workloads:
            if w not in by[m]:
                continue
            kv = num(by[m][w].get("kvstore", {}).get("ops_per_sec"))
            row = "| {} | {} |".format(w, fmt_ops(kv))
            for e in peers:
                o = num(by[m][w].get(e, {}).get("ops_per_sec"))
                row += " {} | {} |".format(
                    fmt_ops(o), fmt(kv / o) + "x" if kv and o else "-")
            out.append(row)
        out.append("")
    return out, by


def engine_targets(bymode, env):
    """Issue #18's engine targets against the peers at their best, in the
    default and the uncompressed modes: fillrandom, readrandom, readseq
    >= 1.5x LevelDB and RocksDB, readrandom >= 1.0x LMDB."""
    res = []
    for m in ["default", "none"]:
        by = bymode.get(m, {})
        for w, e, want in [(w, e, 1.5) for w in ("fillrandom", "readrandom",
                                                  "readseq")
                           for e in ("leveldb", "rocksdb")] + \
                [("readrandom", "lmdb", 1.0)]:
            label = "{} >= {}x {}".format(w, want, mark(e))
            src = by
            if e == "lmdb" and "lmdb" not in by.get(w, {}):
                # LMDB does not compress: its default-mode figure stands.
                src = bymode.get("default", {})
            a = num(by.get(w, {}).get("kvstore", {}).get("ops_per_sec"))
            b = num(src.get(w, {}).get(e, {}).get("ops_per_sec"))
            if a is None or b is None:
                res.append((label, m, "not run", "?"))
                continue
            r = a / b
            res.append((label, m, "{:.2f}x ({} vs {} ops/s)".format(
                r, fmt_ops(a), fmt_ops(b)),
                "holds" if r >= want else "does not hold"))
    if RELEASE_PEERS:
        intro = ("Against the release builds of LevelDB and RocksDB (`make "
                 "bench-peers`), in the default and the uncompressed modes "
                 "(tables under Compression modes below).")
    else:
        intro = ("Against Debian's LevelDB and RocksDB, built with "
                 "assertions: the targets are stated against release "
                 "builds, so these verdicts flatter kvstore; run `make "
                 "bench-peers`, then `make bench`.")
    out = [intro, "", "| target | compression | measured | verdict |",
           "|---|---|---|---|"]
    for t, m, v, d in res:
        out.append("| {} | {} | {} | {} |".format(t, m, v, d))
    return out


def kv_table(rows):
    by = {}
    order = []
    for r in rows:
        if r["workload"] not in by:
            by[r["workload"]] = {}
            order.append(r["workload"])
        by[r["workload"]][r["engine"]] = r
    out = ["| workload | engine | ops/s | MB/s | p50 µs | p99 µs | peak RSS MB "
           "| disk MB | WA io | WA eng | fsync/commit | CPU µs/op | kvstore ÷ engine |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for w in order:
        kv = num(by[w].get("kvstore", {}).get("ops_per_sec"))
        for e in ENGINES:
            r = by[w].get(e)
            if not r:
                continue
            ops = num(r["ops_per_sec"])
            ratio = (kv / ops) if (kv and ops) else None
            note = ""
            if int(r["ops"]) < int(r["num"]) and w not in (
                    "fillsync", "seekrandom") and not w.startswith("ycsb"):
                note = " (stopped at {} ops)".format(r["ops"])
            out.append("| {} | {} | {}{} | {} | {} | {} | {} | {} | {} | {} "
                       "| {} | {} | {} |".format(
                           w, mark(e), fmt_ops(ops), note,
                           fmt(num(r["mb_per_sec"]), 1),
                           fmt(num(r["p50_us"])), fmt(num(r["p99_us"])),
                           fmt(num(r["peak_rss_mb"]), 1),
                           fmt(num(r["disk_mb"]), 1),
                           fmt(num(r["wamp_io"])), fmt(num(r["wamp_engine"])),
                           fmt(num(r["fsyncs_per_commit"]), 3),
                           fmt(num(r.get("cpu_us_per_op"))),
                           "1.00" if e == "kvstore" else
                           (fmt(ratio) + "x" if ratio else "-")))
    return out, by


def sql_table(rows):
    by = {}
    order = []
    for r in rows:
        if r["test"] not in by:
            by[r["test"]] = {}
            order.append(r["test"])
        by[r["test"]][r["backend"]] = r
    out = ["| test | rows | kvstore ops/s | table ops/s | kvstore ÷ table "
           "| kvstore p50/p99 µs | table p50/p99 µs | RSS MB kv/table "
           "| disk MB kv/table | CPU µs/op kv/table |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in order:
        k, b = by[t].get("kvstore"), by[t].get("table")
        ko = num(k["ops_per_sec"]) if k else None
        bo = num(b["ops_per_sec"]) if b else None

        def pp(r):
            return "{} / {}".format(fmt(num(r["p50_us"])),
                                    fmt(num(r["p99_us"]))) if r else "-"

        def two(field, nd=1):
            return "{} / {}".format(
                fmt(num(k.get(field)) if k else None, nd),
                fmt(num(b.get(field)) if b else None, nd))
        n = (k or b)["ops"]
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |"
                   .format(t, n, fmt_ops(ko), fmt_ops(bo),
                           (fmt(ko / bo) + "x") if ko and bo else "-", pp(k),
                           pp(b), two("peak_rss_mb"), two("disk_mb"),
                           two("cpu_us_per_op", 2)))
    return out, by


def targets(kvby, sqlby, env):
    res = []

    def ops(by, w, e):
        r = by.get(w, {}).get(e)
        return num(r["ops_per_sec"]) if r else None

    def ratio_kv(w, e, want):
        a, b = ops(kvby, w, "kvstore"), ops(kvby, w, e)
        if a is None or b is None:
            return ("kvbench {} >= {}x {}".format(w, want, e), "not run", "?")
        r = a / b
        return ("kvbench {} >= {}x {}".format(w, want, mark(e)),
                "{:.2f}x ({} vs {} ops/s)".format(r, fmt_ops(a), fmt_ops(b)),
                "holds" if r >= want else "does not hold")

    def ratio_sql(t, want, label):
        k = sqlby.get(t, {}).get("kvstore")
        b = sqlby.get(t, {}).get("table")
        if not k or not b:
            return ("sqlbench " + label, "not run", "?")
        a, c = num(k["ops_per_sec"]), num(b["ops_per_sec"])
        r = a / c if c else 0
        return ("sqlbench {} >= {}x ordinary table".format(label, want),
                "{:.2f}x ({} vs {} rows/s, {} rows)".format(
                    r, fmt_ops(a), fmt_ops(c), k["rows"]),
                "holds" if r >= want else "does not hold")

    res.append(ratio_sql("replace_batch", 8, "INSERT OR REPLACE in batches "
                         "of 1000"))
    res.append(ratio_sql("point_select", 0.9, "point SELECT"))
    res.append(ratio_sql("range_scan", 0.9, "100-row range scan"))
    res.append(ratio_kv("fillrandom", "leveldb", 1.2))
    res.append(ratio_kv("fillrandom", "lmdb", 1.0))
    res.append(ratio_kv("readrandom", "leveldb", 1.0))
    res.append(ratio_kv("readrandom", "rocksdb", 1.0))
    res.append(ratio_kv("readrandom", "lmdb", 0.5))
    res.append(ratio_kv("readseq", "leveldb", 1.0))
    r = kvby.get("fillsync", {}).get("kvstore")
    if r and num(r["fsyncs_per_commit"]) is not None:
        f = num(r["fsyncs_per_commit"])
        res.append(("fillsync, 4 writer threads: fsyncs per commit well below "
                    "1 (group commit)", "{:.3f} fsyncs/commit".format(f),
                    "holds" if f <= 0.75 else "does not hold"))
    else:
        res.append(("fillsync group commit", "not run", "?"))
    r = kvby.get("fillrandom", {}).get("kvstore")
    if r:
        rss = num(r["peak_rss_mb"])
        limit = 2 * 4 + 8 + 32
        res.append(("peak RSS during fillrandom <= 2 x memtable + cache + "
                    "32 MB = {} MB".format(limit),
                    "{:.1f} MB ({} keys)".format(rss, r["num"]),
                    "holds" if rss <= limit else "does not hold"))
    out = ["| target | measured | verdict |", "|---|---|---|"]
    for t, m, v in res:
        out.append("| {} | {} | {} |".format(t, m, v))
    if env.get("keys") and env.get("keys") != "1000000":
        out.append("")
        out.append("Note: the targets are stated for 1M keys/rows; this run "
                   "used {} keys and {} SQL rows.".format(env.get("keys"),
                                                         env.get("sql_rows")))
    return out


def main():
    global RELEASE_PEERS
    d = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
    env = read_env(os.path.join(d, "env.txt"))
    RELEASE_PEERS = env.get("peers") == "release"
    kvrows = read_csv(os.path.join(d, "kvbench.csv"))
    moderows = read_csv(os.path.join(d, "kvbench_modes.csv"))
    sqlrows = read_csv(os.path.join(d, "sqlbench.csv"))
    kvlines, kvby = kv_table(kvrows)
    sqllines, sqlby = sql_table(sqlrows)
    modelines, bymode = mode_tables(kvrows, moderows, env) if kvrows \
        else ([], {})
    modes_md = ("### Compression modes\n\nThe workloads of issue #18's engine "
                "targets in each mode, each engine's median of the same "
                "rounds as the main run; ratios are kvstore's ops/s over the "
                "peer's. The default mode's figures are the main run's.\n\n"
                + "\n".join(modelines) + "\n") if modelines else ""
    reps = env.get("read_reps", "?")
    config_note = CONFIG_NOTE.format(reps=reps)

    head = ["Run: {} keys (kvbench), {} rows (sqlbench), {}; {}; kernel {}; "
            "commit {}; {} s in all.".format(
                env.get("keys", "?"), env.get("sql_rows", "?"),
                env.get("date", "?"), env.get("cpu", "?"),
                env.get("kernel", "?"), env.get("commit", "?"),
                env.get("run_seconds", "?")),
            "",
            "Peers: LevelDB {}, RocksDB {}, LMDB {}, SQLite {} (Debian "
            "versions). {}".format(env.get("pkg_libleveldb1d", "?"),
                                   env.get("pkg_librocksdb7.8", "?"),
                                   env.get("pkg_liblmdb0", "?"),
                                   env.get("pkg_libsqlite3-0", "?"),
                                   peers_note(env)),
            ""]
    with open(os.path.join(d, "kvbench.md"), "w") as f:
        f.write("# kvbench (engine level)\n\n")
        f.write("\n".join(head) + "\n" + config_note + "\n\n" + WAMP_NOTE +
                "\n\n" + "\n".join(kvlines) + "\n" + footnote() + "\n" +
                modes_md)
    with open(os.path.join(d, "sqlbench.md"), "w") as f:
        f.write("# sqlbench (SQL level)\n\n")
        f.write("\n".join(head) + "\n")
        f.write("kvstore virtual table (sync=normal, memtable 4 MiB, cache "
                "8 MiB) vs an ordinary `WITHOUT ROWID` table (WAL, "
                "synchronous=NORMAL, cache 8 MiB); keys 16-character text in "
                "random order, values 100-byte blobs. insert_autocommit "
                "inserts rows/10 rows; range_scan = `WHERE key>=? ORDER BY "
                "key LIMIT 100`. point_select and range_scan run "
                "BENCH_READ_REPS times ({reps}), backends alternating, and each "
                "row is the backend's median run (every run: "
                "sqlbench_runs.csv).\n\n".format(reps=reps) +
                "\n".join(sqllines) + "\n")
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(head) + "\n### Targets\n\n" +
                "\n".join(targets(kvby, sqlby, env)) + "\n\n" +
                ("### Engine targets against the peers at their best "
                 "(issue #18)\n\n" + "\n".join(engine_targets(bymode, env))
                 + "\n\n" if kvrows else "") +
                "### kvbench\n\n" + config_note + "\n\n" + WAMP_NOTE + "\n\n" +
                "\n".join(kvlines) + "\n" + footnote() + "\n" + modes_md +
                ("\n" if modes_md else "") +
                "### sqlbench\n\n" + "\n".join(sqllines) + "\n")

    if kvrows:
        workloads = []
        for r in kvrows:
            if r["workload"] not in workloads:
                workloads.append(r["workload"])
        engines = [e for e in ENGINES if any(r["engine"] == e for r in kvrows)]
        dat = os.path.join(d, "kvbench.dat")
        with open(dat, "w") as f:
            f.write("workload " + " ".join(mark(e).replace(" ", "")
                                           for e in engines) + "\n")
            for w in workloads:
                vals = []
                for e in engines:
                    v = kvby.get(w, {}).get(e)
                    vals.append(v["ops_per_sec"] if v else "NaN")
                f.write(w + " " + " ".join(vals) + "\n")
        plot = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "plot.gp")
        png = os.path.join(d, "kvbench.png")
        try:
            subprocess.run(["gnuplot", "-e",
                            "datafile='{}'; outfile='{}'; ncol={}; "
                            "subtitle='{} keys; {}'".format(
                                dat, png, len(engines) + 1,
                                env.get("keys", "?"),
                                "LevelDB/RocksDB: release builds"
                                if RELEASE_PEERS else
                                "† Debian LevelDB/RocksDB built with "
                                "assertions enabled"),
                            plot], check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print("report: no chart ({})".format(e), file=sys.stderr)
    readme = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "README.md")
    if (os.path.abspath(d) == os.path.join(os.path.dirname(readme), "results")
            and os.path.exists(readme)):
        update_readme(readme, d, env)
    print("report: wrote {}/kvbench.md sqlbench.md summary.md".format(d))


def update_readme(readme, d, env):
    """Replace the text between the results markers of bench/README.md with
    the summary of this run and the command that produced it."""
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    text = open(readme).read()
    if begin not in text or end not in text:
        return
    summary = open(os.path.join(d, "summary.md")).read()
    body = ("\n## Last run\n\nProduced by `{}` (at the repository root); "
            "CSVs, Markdown and the chart are in `bench/results/`.\n\n"
            "![ops/s per workload and engine](results/kvbench.png)\n\n"
            .format(env.get("command", "bench/run.sh")) + summary)
    pre = text.split(begin)[0]
    post = text.split(end, 1)[1]
    with open(readme, "w") as f:
        f.write(pre + begin + "\n" + body + "\n" + end + post)


if __name__ == "__main__":
    main()
