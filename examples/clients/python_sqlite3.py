# kvstore from Python's standard sqlite3 module.
#   python3 examples/clients/python_sqlite3.py
# Run from the project root after `make` (KVSTORE_SO names the extension
# elsewhere). Debian's python3 can load extensions; some other builds of
# Python cannot (no enable_load_extension).
import os
import sqlite3
import tempfile

ext = os.environ.get("KVSTORE_SO", "./kvstore")   # SQLite adds ".so"
FRUIT = [("banana", "yellow"), ("apple", "red"), ("cherry", "dark red"),
         ("date", "brown"), ("blueberry", "blue")]

with tempfile.TemporaryDirectory() as d:
    db = sqlite3.connect(os.path.join(d, "app.db"))
    db.enable_load_extension(True)
    db.load_extension(ext)
    db.enable_load_extension(False)

    db.execute("CREATE VIRTUAL TABLE fruit USING kvstore")
    with db:                          # one transaction, committed here
        db.executemany("INSERT INTO fruit(key, value) VALUES (?, ?)", FRUIT)

    (v,) = db.execute("SELECT value FROM fruit WHERE key = ?",
                      ("apple",)).fetchone()
    print("apple =", v)
    rows = db.execute("SELECT key, value FROM fruit"
                      " WHERE key BETWEEN 'banana' AND 'cherry' ORDER BY key")
    print("banana..cherry:", " ".join("%s=%s" % r for r in rows))
    keys = db.execute("SELECT key FROM fruit ORDER BY key DESC")
    print("descending:", " ".join(k for (k,) in keys))
    keys = db.execute("SELECT key FROM fruit"
                      " WHERE key >= 'b' AND key < 'c' ORDER BY key")
    print("prefix 'b':", " ".join(k for (k,) in keys))
    print("rows:", db.execute("SELECT count(*) FROM fruit").fetchone()[0])
    db.close()
