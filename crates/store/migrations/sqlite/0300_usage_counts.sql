-- Reports: durable daily tallies of the events behind the usage metrics (MCCA). Reads and
-- hits are purged under retention and the audit log is pruned, but the counts of them must
-- stay for year-over-year reports; so each event is also counted here, in the transaction
-- that records it. `day` is the Unix millisecond start of the UTC day; `label` breaks a
-- metric down (hit type, disposition, action, purpose category, user id) or is ''.

CREATE TABLE usage_counts (
    day INTEGER NOT NULL,
    metric TEXT NOT NULL,
    label TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, metric, label)
);

-- Events recorded before this table existed, from what is still stored.
INSERT INTO usage_counts (day, metric, label, count)
SELECT (captured_at / 86400000) * 86400000, 'reads', '', COUNT(*) FROM reads
GROUP BY (captured_at / 86400000) * 86400000;

INSERT INTO usage_counts (day, metric, label, count)
SELECT (r.captured_at / 86400000) * 86400000, 'hits', h.hit_type, COUNT(*)
FROM hits h JOIN reads r ON r.id = h.read_id
GROUP BY (r.captured_at / 86400000) * 86400000, h.hit_type;

INSERT INTO usage_counts (day, metric, label, count)
SELECT (r.captured_at / 86400000) * 86400000, 'dispositions', h.disposition, COUNT(*)
FROM hits h JOIN reads r ON r.id = h.read_id WHERE h.disposition IS NOT NULL
GROUP BY (r.captured_at / 86400000) * 86400000, h.disposition;

INSERT INTO usage_counts (day, metric, label, count)
SELECT (r.captured_at / 86400000) * 86400000, 'actions', h.action, COUNT(*)
FROM hits h JOIN reads r ON r.id = h.read_id WHERE h.action IS NOT NULL
GROUP BY (r.captured_at / 86400000) * 86400000, h.action;
