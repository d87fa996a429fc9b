-- Series: one row per label set; labels stored as a JSON object.
CREATE TABLE series (
    id     INTEGER PRIMARY KEY,
    labels TEXT NOT NULL
);

-- Samples: one row per sample, values stored as the f64 bit pattern so that
-- NaNs (and the stale marker) survive bit for bit. The compressed chunk
-- engine replaces this table.
CREATE TABLE samples (
    series_id INTEGER NOT NULL,
    t         INTEGER NOT NULL,
    v         INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) WITHOUT ROWID;
