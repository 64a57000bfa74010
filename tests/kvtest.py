"""Helpers shared by the Python tests of the kvstore extension.

Run the tests with Debian's /usr/bin/python3: its sqlite3 module can load
extensions (a python3 built elsewhere may lack enable_load_extension).
"""
import os
import sqlite3
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSION = os.environ.get("KVSTORE_SO", os.path.join(ROOT, "kvstore.so"))


def connect(path, timeout=10.0):
    """Open `path` in autocommit mode (explicit BEGIN only) with kvstore
    loaded."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    if not hasattr(conn, "enable_load_extension"):
        sys.exit("this python's sqlite3 module cannot load extensions; "
                 "run the tests with /usr/bin/python3")
    conn.enable_load_extension(True)
    conn.load_extension(EXTENSION)
    conn.enable_load_extension(False)
    return conn


def tagged(value):
    """A value with its type, so that 5 and 5.0 compare different."""
    return (type(value).__name__, value)


def tag_rows(rows):
    return [tuple(tagged(v) for v in row) for row in rows]
