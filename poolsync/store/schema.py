"""The store's SQL schema, its version, and the migrations from every older one.

DDL is applied statement by statement, split on ';' (so no ';' in its comments):
``executescript()`` would commit on its own, outside the caller's transaction.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 7
APPLICATION_ID = 0x506F6F6C  # "Pool": marks a SQLite file as a poolsync store

# Also the migration from schema 3, so both make the same table.
SNAPSHOTS_DDL = """CREATE TABLE snapshots (             -- usage history
    taken_at  TEXT NOT NULL,            -- ISO 8601, UTC
    pool      TEXT NOT NULL,
    server    TEXT NOT NULL,
    class     TEXT NOT NULL,            -- vm | um | inbox
    licensed  INTEGER NOT NULL,
    used      INTEGER NOT NULL,         -- the directory's truth
    published INTEGER,                  -- what the server published (NULL: unknown)
    source    TEXT NOT NULL,            -- 'sync' or 'import'
    PRIMARY KEY (taken_at, pool, server, class)
) WITHOUT ROWID"""

# What each Unity server said about its own license (`servers probe`), kept as a
# history; the latest per (server, source) is what the pool and the doctor compare.
READINGS_DDL = """CREATE TABLE server_readings (
    server    TEXT NOT NULL,            -- the configured name (its Location's name)
    source    TEXT NOT NULL,            -- http | snmp
    read_at   TEXT NOT NULL,            -- ISO 8601, UTC
    reachable INTEGER NOT NULL,
    lic_vm INTEGER, lic_um INTEGER, lic_inbox INTEGER,      -- NULL: not read
    used_vm INTEGER, used_um INTEGER, used_inbox INTEGER,   -- NULL: not published
    pooling   INTEGER,                  -- LicPoolingIsEnabled (NULL: not read)
    secondary INTEGER,                  -- LicSecondaryServerIsLicensed
    error     TEXT,                     -- one line, NULL when read
    PRIMARY KEY (server, source, read_at)
) WITHOUT ROWID"""

# Seats per home Location object id over the merged view (one row per objectGUID, the
# domain pass's copy preferred), kept up to date by every commit: the pool report reads
# a row per server instead of grouping every subscriber.
SEATS_DDL = """CREATE TABLE seats_by_home (
    home  TEXT PRIMARY KEY,             -- '' for subscribers without a home
    vm    INTEGER NOT NULL,             -- subscribers (each uses a VM seat)
    um    INTEGER NOT NULL,
    inbox INTEGER NOT NULL
) WITHOUT ROWID"""

SEATS_FILL = """INSERT INTO seats_by_home (home, vm, um, inbox)
SELECT coalesce(home, ''), count(*), sum(um), sum(inbox) FROM (
    SELECT home, um, inbox FROM subscribers WHERE pass = 'domain' UNION ALL
    SELECT home, um, inbox FROM subscribers AS g WHERE g.pass = 'gc' AND NOT EXISTS
        (SELECT 1 FROM subscribers AS d WHERE d.pass = 'domain' AND d.guid = g.guid)
) GROUP BY coalesce(home, '')"""

DDL = (
    """
CREATE TABLE locations (
    pass        TEXT NOT NULL,          -- 'domain' or 'gc'
    guid        TEXT NOT NULL,          -- objectGUID: identity, never the DN
    dn          TEXT NOT NULL,
    name        TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    version     TEXT,
    failover_of TEXT,
    attachment  BLOB,                   -- raw bytes as the directory sent them
    usn_changed INTEGER,
    attachment_refused INTEGER,         -- not read for its size: its bytes
    PRIMARY KEY (pass, guid)
) WITHOUT ROWID;
CREATE TABLE subscribers (
    pass        TEXT NOT NULL,
    guid        TEXT NOT NULL,
    dn          TEXT NOT NULL,
    home        TEXT,
    dtmf_id     TEXT,
    um          INTEGER NOT NULL,
    inbox       INTEGER NOT NULL,
    usn_changed INTEGER,
    PRIMARY KEY (pass, guid)
) WITHOUT ROWID;
CREATE TABLE passes (
    pass           TEXT PRIMARY KEY,
    endpoint       TEXT NOT NULL,
    dc_host        TEXT NOT NULL,
    invocation_id  TEXT NOT NULL,
    naming_context TEXT NOT NULL,
    usn            INTEGER NOT NULL,    -- highestCommittedUSN read before the pass
    synced_at      TEXT NOT NULL,
    profile        TEXT NOT NULL,       -- fingerprint of the schema profile used
    method         TEXT NOT NULL DEFAULT 'usn',  -- how the next incremental pass reads
    cookie         BLOB                 -- DirSync: JSON {naming context: base64 cookie}
);
CREATE TABLE violations (            -- license violations, since first seen
    key        TEXT PRIMARY KEY,        -- e.g. pool:lab.example.com:vm
    first_seen TEXT NOT NULL
);
{snapshots};
{seats};
{readings};
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,          -- running | ok | failed
    detail      TEXT
);
""".replace("{snapshots}", SNAPSHOTS_DDL)
    .replace("{seats}", SEATS_DDL)
    .replace("{readings}", READINGS_DDL)
)


# Upgrades from each older schema version to the next, applied in one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE passes ADD COLUMN method TEXT NOT NULL DEFAULT 'usn'",
        "ALTER TABLE passes ADD COLUMN cookie BLOB",
    ),
    2: ("CREATE TABLE violations (key TEXT PRIMARY KEY, first_seen TEXT NOT NULL)",),
    3: (SNAPSHOTS_DDL,),
    # seats_by_home replaces grouping by home, and the index that grouping used
    4: (SEATS_DDL, SEATS_FILL, "DROP INDEX IF EXISTS subscribers_by_home"),
    5: ("ALTER TABLE locations ADD COLUMN attachment_refused INTEGER",),
    6: (READINGS_DDL,),
}

STAGING_DDL = """
CREATE TEMP TABLE stage_locations (
    pass TEXT NOT NULL, guid TEXT NOT NULL, dn TEXT NOT NULL, name TEXT NOT NULL,
    object_id TEXT NOT NULL, version TEXT, failover_of TEXT, attachment BLOB,
    usn_changed INTEGER, attachment_refused INTEGER, PRIMARY KEY (pass, guid)
) WITHOUT ROWID;
CREATE TEMP TABLE stage_subscribers (
    pass TEXT NOT NULL, guid TEXT NOT NULL, dn TEXT NOT NULL, home TEXT, dtmf_id TEXT,
    um INTEGER NOT NULL, inbox INTEGER NOT NULL, usn_changed INTEGER,
    PRIMARY KEY (pass, guid)
) WITHOUT ROWID;
CREATE TEMP TABLE stage_removals (   -- tombstones, and objects no longer Unity objects
    pass TEXT NOT NULL, guid TEXT NOT NULL, usn INTEGER, PRIMARY KEY (pass, guid)
) WITHOUT ROWID;
CREATE TEMP TABLE stage_modes (      -- per pass: 'total' replaces, 'incremental' patches
    pass TEXT PRIMARY KEY, mode TEXT NOT NULL
);
CREATE TEMP TABLE plan (
    kind TEXT NOT NULL, pass TEXT NOT NULL, guid TEXT NOT NULL, op TEXT NOT NULL,
    dn TEXT NOT NULL, label TEXT, PRIMARY KEY (kind, pass, guid)
) WITHOUT ROWID;
"""
STAGING_TABLES = ("stage_locations", "stage_subscribers", "stage_removals", "stage_modes", "plan")


def create(db: sqlite3.Connection) -> None:
    """Make a new store's tables and mark it (in the caller's write transaction)."""
    for statement in DDL.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def migrate(db: sqlite3.Connection) -> None:
    """Upgrade a store to SCHEMA_VERSION (in the caller's write transaction). The
    version is read again here, under the write lock: a concurrent run may have
    migrated it since it was opened."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for step in range(version, SCHEMA_VERSION):
        for statement in MIGRATIONS[step]:
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
