-- Access: which reads each search listed. A read (its image, its plate crop) opens by id
-- only from a search of the same person that listed it; the search's own audit record
-- (audit_seq) says whose it was and why. A row goes when its read is purged.
CREATE TABLE search_results (
    audit_seq BIGINT NOT NULL,
    read_id BIGINT NOT NULL REFERENCES reads(id) ON DELETE CASCADE,
    PRIMARY KEY (audit_seq, read_id)
);
CREATE INDEX search_results_read ON search_results (read_id);
