"""Make every SQLite transaction of this process start with BEGIN IMMEDIATE.

Loaded by the sandbox WSGI shims (glance_wsgi.py, keystone_wsgi.py) before the
service imports its database layer.

Why: oslo.db disables pysqlite's own transaction handling and emits a plain
(deferred) ``BEGIN`` from an Engine "begin" listener.  Two threads that both
read and then write deadlock on the SHARED -> RESERVED lock upgrade, and one of
them gets "database is locked" at once (SQLite does not wait in that case), so
16 parallel image creates gave hundreds of HTTP 500s.  ``BEGIN IMMEDIATE``
takes the write lock up front, so concurrent transactions queue on the busy
timeout instead of deadlocking.

This listener is registered on the Engine *class* with insert=True, so it runs
before oslo.db's per-engine listener; it marks the connection as being in a
transaction, which makes oslo.db's listener skip its own BEGIN.
"""

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_MS = 60000


@event.listens_for(Engine, "connect", insert=True)
def _sandbox_sqlite_connect(dbapi_con, con_record):
    # Wait (instead of failing at once) while another transaction holds the lock.
    if type(dbapi_con).__module__.startswith("sqlite3"):
        dbapi_con.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)


@event.listens_for(Engine, "begin", insert=True)
def _sandbox_sqlite_begin_immediate(conn):
    if conn.dialect.name != "sqlite":
        return
    if "in_transaction" in conn.info:
        return
    conn.execute(sqlalchemy.text("BEGIN IMMEDIATE"))
    conn.info["in_transaction"] = True
