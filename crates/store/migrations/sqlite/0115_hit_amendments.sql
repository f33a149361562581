-- Corrections of a hit's verdict or action. A recorded disposition or action is never
-- edited: a correction is a new row here, with who, when, what it was, what it becomes and
-- a note saying why (the hit's own columns keep the first record). The hit shows the latest
-- value; the metrics move the count from the old value to the new one.
-- `confirmed` records that a wrong-state read was confirmed against the hot-list entry
-- before an action was recorded (the only way a wrong-state verdict may lead to an action).

CREATE TABLE hit_amendments (
    id INTEGER PRIMARY KEY,
    hit_id INTEGER NOT NULL,
    field TEXT NOT NULL,
    previous TEXT NOT NULL,
    amended_to TEXT NOT NULL,
    by_user_id INTEGER NOT NULL,
    by_username TEXT NOT NULL,
    at INTEGER NOT NULL,
    note TEXT NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hit_amendments_hit ON hit_amendments (hit_id, id);

ALTER TABLE hits ADD COLUMN action_confirmed INTEGER NOT NULL DEFAULT 0;
