-- The hit types a hot list's entries carry (an NCIC extract mixes V, W, F, …), comma-
-- separated and sorted, written by every import; NULL for lists imported before this
-- column, which read as the list's own hit type.
ALTER TABLE hot_lists ADD COLUMN hit_types TEXT;
