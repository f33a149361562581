-- Hot lists received from partner agencies under a sharing agreement: where each local
-- copy came from (the list itself is an ordinary hot list with source 'partner'; a
-- re-import replaces it).

CREATE TABLE partner_hot_lists (
    -- The local hot list's name.
    list_name TEXT PRIMARY KEY,
    agreement_id TEXT NOT NULL REFERENCES agreements(id),
    partner_agency TEXT NOT NULL,
    -- The list's name at the partner.
    remote_name TEXT NOT NULL,
    remote_version BIGINT NOT NULL,
    entry_count BIGINT NOT NULL,
    imported_at BIGINT NOT NULL,
    imported_by TEXT NOT NULL
);
