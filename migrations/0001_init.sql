-- Interned label strings (names and values), ids dense from 0.
CREATE TABLE strings (
    id INTEGER PRIMARY KEY,
    s  TEXT NOT NULL
);

-- One row per label set. `labels` is varint (name id, value id) pairs sorted
-- by name; `hash` is Labels::stable_hash, the key series are looked up by.
CREATE TABLE series (
    id     INTEGER PRIMARY KEY,
    hash   INTEGER NOT NULL,
    labels BLOB NOT NULL
);
CREATE INDEX series_by_hash ON series (hash);

-- Rowid tables, not WITHOUT ROWID: their rows keep up to ~4 KB in the leaf
-- page and fill overflow pages exactly, where WITHOUT ROWID spills rows over
-- ~1 KB into half-empty overflow pages (see README "Performance").
-- Head chunks (Gorilla, cut at fixed chunk-span boundaries), written as they
-- are sealed; compaction folds them into `blocks`. Keys arrive in order.
CREATE TABLE chunks (
    series_id INTEGER NOT NULL,
    mint      INTEGER NOT NULL,
    maxt      INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE UNIQUE INDEX chunks_key ON chunks (series_id, mint);
CREATE INDEX chunks_by_maxt ON chunks (series_id, maxt, mint);

-- Compacted per-series blocks (one per block span), smallest codec by trial.
CREATE TABLE blocks (
    series_id INTEGER NOT NULL,
    mint      INTEGER NOT NULL,
    maxt      INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE UNIQUE INDEX blocks_key ON blocks (series_id, mint);
CREATE INDEX blocks_by_maxt ON blocks (series_id, maxt, mint);

-- Head log: one row per flush interval with that interval's samples; replayed
-- at start-up, deleted once the chunks holding its samples are written.
CREATE TABLE head_log (
    seq  INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
