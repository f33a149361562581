-- Access: which hits each search of hits listed. A hit older than the policy's live alert
-- horizon opens by id (and may be verified or corrected) only from a search of hits of the
-- same person that listed it; the search's own audit record (audit_seq) says whose it was
-- and why. Written with that audit record. A row goes when its hit is purged.
CREATE TABLE search_hits (
    audit_seq BIGINT NOT NULL,
    hit_id BIGINT NOT NULL REFERENCES hits(id) ON DELETE CASCADE,
    PRIMARY KEY (audit_seq, hit_id)
);
CREATE INDEX search_hits_hit ON search_hits (hit_id);
