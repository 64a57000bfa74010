# kvstore from apsw (Debian: python3-apsw; pip: apsw).
#   python3 examples/clients/python_apsw.py
# Run from the project root after `make` (KVSTORE_SO names the extension
# elsewhere).
import os
import tempfile

import apsw

ext = os.environ.get("KVSTORE_SO", "./kvstore")   # SQLite adds ".so"
FRUIT = [("banana", "yellow"), ("apple", "red"), ("cherry", "dark red"),
         ("date", "brown"), ("blueberry", "blue")]

with tempfile.TemporaryDirectory() as d:
    conn = apsw.Connection(os.path.join(d, "app.db"))
    conn.enableloadextension(True)    # newer apsw also spells it
    conn.loadextension(ext)           # enable_load_extension, load_extension
    conn.enableloadextension(False)
    db = conn.cursor()

    db.execute("CREATE VIRTUAL TABLE fruit USING kvstore")
    with conn:                        # one transaction, committed here
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
    conn.close()
