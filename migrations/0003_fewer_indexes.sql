-- Two indexes that cost disk and bought nothing (about 4 % of a compacted store):
-- the series table is read whole at start-up (ORDER BY id) and never looked up
-- by hash in SQL; blocks are found through blocks_by_maxt (series_id, maxt, mint),
-- and compaction keeps (series_id, mint) unique itself: the one writer deletes a
-- window's rows before it writes the window's block.
DROP INDEX series_by_hash;
DROP INDEX blocks_key;
