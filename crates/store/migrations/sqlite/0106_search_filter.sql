-- Search over millions of reads.
-- plate_filter: a keyed 64-bit Bloom filter of the plate's grams (several bits per gram,
-- key of the read's window), which passes far fewer non-matching reads to decryption than
-- plate_sig (one bit per gram). Reads stored from now on have plate_filter and no plate_sig;
-- reads stored before keep plate_sig, and searches still use it for them.
ALTER TABLE reads ADD COLUMN plate_filter INTEGER;
-- A window's reads in capture order with both signatures: a pattern search walks it newest
-- first and reads a row only when its signature passes.
DROP INDEX reads_window_time;
CREATE INDEX reads_window_time ON reads (key_window, captured_at, id, plate_filter, plate_sig);
-- A plate's reads in a window in capture order: the time range is applied in the index, and
-- only reads in range are read.
DROP INDEX reads_plate;
CREATE INDEX reads_plate ON reads (key_window, plate_index, captured_at, id);
