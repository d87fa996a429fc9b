-- Oldest-first access for size retention (and age retention without a scan).
-- One entry per block/chunk row, a few bytes per thousand samples.
CREATE INDEX blocks_by_time ON blocks (maxt);
CREATE INDEX chunks_by_time ON chunks (maxt);

-- Downsampled rollups: per series per block window one row holding, per
-- 5-minute bucket, count, sum, min, max, last and a reset-corrected counter
-- (see tsdb::rollup). Kept for storage.downsample_retention.
CREATE TABLE rollups (
    series_id INTEGER NOT NULL,
    mint      INTEGER NOT NULL,
    maxt      INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE UNIQUE INDEX rollups_key ON rollups (series_id, mint);
CREATE INDEX rollups_by_time ON rollups (maxt);
