//! Searching stored reads by plate, time, camera and hit status, without plate cleartext
//! in the database.
//!
//! - A whole plate (no look-alikes) is found through each window's blind index
//!   (`reads_plate`: window, blind index, capture time), which applies the time range too.
//! - A pattern (`?`, `*`) or a look-alike search walks each window's reads in the time range
//!   through `reads_window_time` (window, capture time, id, both gram signatures), keeping
//!   only rows whose keyed gram filter (`plate_filter`, or `plate_sig` for reads stored
//!   before it) has every bit the pattern requires; only those rows are read, decrypted and
//!   confirmed against the pattern. The policy caps a partial search's time range, which
//!   bounds the walk.
//!
//! One statement covers every live window: one arm per window, each already in result order
//! from its index, merged (`UNION ALL … ORDER BY … LIMIT`), so the database stops reading
//! as soon as a chunk is full instead of collecting and sorting every candidate first.
//!
//! Results are newest first, `(captured_at, id)` descending, and pages continue after a
//! [`SearchCursor`], so no read is skipped or repeated between pages.
//!
//! Which reads each search listed is kept too (`search_results`, by the search's audit
//! sequence number, written in the transaction of its audit record): a read, its image or its
//! plate crop opens by id only from a search that listed it ([`Store::search_listed`],
//! [`Store::search_listed_image`]). The rows go with their read when it is purged. Likewise
//! which hits a search of hits listed (`search_hits`): a hit older than the live alert
//! horizon opens by id only from a search of hits that listed it ([`Store::search_listed_hit`]).

use std::fmt;
use std::str::FromStr;

use candor_platetext::lookalike::LookAlikeClasses;
use candor_platetext::wildcard::Pattern;

use crate::keys::KeyRing;
use crate::reads::{READ_COLUMNS, StoredRead, open_read};
use crate::{Store, StoreError, Tx};

/// Where the previous page ended: the last read's capture time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCursor {
    pub captured_at: i64,
    pub id: i64,
}

impl fmt::Display for SearchCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.captured_at, self.id)
    }
}

impl FromStr for SearchCursor {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            StoreError::Invalid(format!(
                "cursor {s:?} is not one this server gave; pass next_cursor from the previous page unchanged"
            ))
        };
        let (at, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(SearchCursor {
            captured_at: at.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// Look-alike expansion of a search: plates that differ from the pattern by at most
/// `budget` substitutions within `classes` also match.
#[derive(Debug, Clone)]
pub struct LookAlikes {
    pub classes: LookAlikeClasses,
    pub budget: u8,
}

/// What to search for.
#[derive(Debug, Clone)]
pub struct ReadSearch {
    pub pattern: Pattern,
    pub lookalikes: Option<LookAlikes>,
    /// Capture time from (inclusive), Unix ms.
    pub from: i64,
    /// Capture time until (exclusive), Unix ms.
    pub to: i64,
    /// Only these cameras; `None` for all.
    pub cameras: Option<Vec<String>>,
    /// Only reads whose vehicle colour has one of these words (lower case), e.g. `grey`,
    /// `gray`, `silver`: a colour such as "silver-gray" or "dark grey" has one of them.
    pub vehicle_color: Option<Vec<String>>,
    /// Only reads that produced a hit.
    pub hits_only: bool,
    /// Page size.
    pub limit: usize,
    /// Continue after this read (from the previous page).
    pub after: Option<SearchCursor>,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct ReadPage {
    pub reads: Vec<StoredRead>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<SearchCursor>,
    /// Reads decrypted to confirm a pattern (the cost of a partial search; equal to the
    /// results for a whole plate).
    pub decrypted: usize,
}

/// Most rows fetched per round. The first round fetches one more row than the page holds
/// (every candidate of a whole plate matches); each further round, needed only when
/// candidates failed the pattern, fetches twice as many as the last, up to this.
const MAX_CHUNK: usize = 512;

impl ReadSearch {
    fn exact_plate(&self) -> Option<String> {
        match &self.lookalikes {
            Some(l) if l.budget > 0 => None,
            _ => self.pattern.as_plate(),
        }
    }

    fn matches(&self, details: &crate::reads::ReadDetails) -> bool {
        let colour_fits = match (&self.vehicle_color, &details.vehicle_color) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(words), Some(colour)) => colour
                .to_lowercase()
                .split(|c: char| !c.is_alphabetic())
                .any(|w| words.iter().any(|x| x == w)),
        };
        colour_fits && self.plate_matches(&details.plate)
    }

    fn plate_matches(&self, plate: &str) -> bool {
        match &self.lookalikes {
            Some(l) => self
                .pattern
                .matches_within(plate.as_bytes(), &l.classes, l.budget),
            None => self.pattern.matches_normalized(plate.as_bytes()),
        }
    }
}

/// The plate condition of one window's query.
enum PlateCondition {
    BlindIndex(Vec<u8>),
    /// Bits required of a read's plate filter, and of the first signature of a read stored
    /// before filters (both 0: none; every read is a candidate).
    Grams {
        filter: i64,
        signature: i64,
    },
}

/// Most arms of one statement (SQLite allows 500 in a compound SELECT). Past this many
/// windows, an arm covers several windows and sorts their candidates itself.
const MAX_ARMS: usize = 100;

impl Store {
    /// One page of reads matching `q`, newest first. The caller checks purpose and policy
    /// and audits the search; this only finds and opens the reads.
    ///
    /// One statement covers every live window (see the module comment), so the cost does
    /// not grow with a statement per window.
    pub async fn search_reads(
        &self,
        keys: &KeyRing,
        q: &ReadSearch,
    ) -> Result<ReadPage, StoreError> {
        if q.limit == 0 {
            return Err(StoreError::Invalid("page size must be at least 1".into()));
        }
        let empty = ReadPage {
            reads: Vec::new(),
            next: None,
            decrypted: 0,
        };
        if q.to <= q.from || matches!(&q.cameras, Some(c) if c.is_empty()) {
            return Ok(empty);
        }
        let exact = q.exact_plate();
        let required = q
            .pattern
            .required_grams(q.lookalikes.as_ref().map(|l| &l.classes));
        // A read's window is that of its expiry (or its arrival, if later), never before
        // its capture: windows ending before `from` hold nothing in range. Each window's
        // span is the one recorded with it (the window length may have changed since).
        let spans = self.window_spans(keys).await?;
        let mut terms = Vec::new();
        for (w, (_, ends_at)) in spans {
            if ends_at <= q.from {
                continue;
            }
            let Some(wk) = keys.get(w)? else { continue };
            let condition = match &exact {
                Some(plate) => PlateCondition::BlindIndex(wk.blind_index(plate)),
                None => PlateCondition::Grams {
                    filter: wk.pattern_filter(&required),
                    signature: wk.pattern_mask(&required),
                },
            };
            terms.push((wk.window, condition));
        }
        if terms.is_empty() {
            return Ok(empty);
        }
        let want = q.limit + 1;
        let mut found = Vec::new();
        let mut decrypted = 0;
        let mut after = q.after;
        let mut chunk = want.min(MAX_CHUNK);
        'chunks: loop {
            let rows = self.candidate_rows(q, &terms, after, chunk).await?;
            for row in &rows {
                let read = open_read(keys, row)?;
                decrypted += 1;
                after = Some(SearchCursor {
                    captured_at: read.captured_at,
                    id: read.id,
                });
                if q.matches(&read.details) {
                    found.push(read);
                    if found.len() >= want {
                        break 'chunks;
                    }
                }
            }
            if rows.len() < chunk {
                break;
            }
            chunk = (chunk * 2).min(MAX_CHUNK);
        }
        let next = if found.len() > q.limit {
            found.truncate(q.limit);
            found.last().map(|r| SearchCursor {
                captured_at: r.captured_at,
                id: r.id,
            })
        } else {
            None
        };
        Ok(ReadPage {
            reads: found,
            next,
            decrypted,
        })
    }

    /// The next `chunk` candidate rows after `after`, newest first: rows of each window in
    /// the time range that pass its plate condition.
    async fn candidate_rows(
        &self,
        q: &ReadSearch,
        terms: &[(i64, PlateCondition)],
        after: Option<SearchCursor>,
        chunk: usize,
    ) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        // $1 from; $2 and $3 the position to continue before (the cursor's time and id, or
        // `to` and the smallest id: strictly before `to`); then per window, then cameras.
        let mut n = 3;
        let mut next = || {
            n += 1;
            n
        };
        // Each window's term is one index range, in result order: its blind index
        // (`reads_plate`) with the time range tested on the index entry, or its time range
        // with the signature test on the index entry (`reads_window_time`), so a row is
        // read only when it passes. The unary `+` keeps SQLite on `reads_plate` for a
        // plate: it would rather walk the window's whole time range in `reads_window_time`
        // for its order.
        let mut window_terms = Vec::with_capacity(terms.len());
        for (_, condition) in terms {
            let w = next();
            window_terms.push(match condition {
                PlateCondition::BlindIndex(_) => format!(
                    "(key_window = ${w} AND plate_index = ${} AND +captured_at >= $1 AND +captured_at <= $2)",
                    next()
                ),
                PlateCondition::Grams { filter: 0, .. } => {
                    format!("(key_window = ${w} AND captured_at >= $1 AND captured_at <= $2)")
                }
                PlateCondition::Grams { .. } => {
                    let (f, s) = (next(), next());
                    format!(
                        "(key_window = ${w} AND captured_at >= $1 AND captured_at <= $2 \
                         AND ((plate_filter & ${f}) = ${f} \
                         OR (plate_filter IS NULL AND (plate_sig IS NULL OR (plate_sig & ${s}) = ${s}))))"
                    )
                }
            });
        }
        // What every arm also checks, on the row. A unary `+` keeps SQLite from choosing an
        // index by these terms instead of the window's.
        let mut rest = String::from(" AND (+captured_at < $2 OR +id < $3)");
        if q.hits_only {
            rest.push_str(" AND is_hit = 1");
        }
        if let Some(cameras) = &q.cameras {
            let list: Vec<String> = cameras.iter().map(|_| format!("${}", next())).collect();
            rest.push_str(&format!(" AND camera_id IN ({})", list.join(",")));
        }
        let per_arm = window_terms.len().div_ceil(MAX_ARMS);
        let arms: Vec<String> = window_terms
            .chunks(per_arm)
            .map(|windows| {
                format!(
                    "SELECT {READ_COLUMNS} FROM reads WHERE ({}){rest}",
                    windows.join(" OR ")
                )
            })
            .collect();
        let sql = format!(
            "{} ORDER BY captured_at DESC, id DESC LIMIT ${}",
            arms.join(" UNION ALL "),
            next()
        );

        let (upper_time, after_id) = match after {
            Some(c) if c.captured_at < q.to => (c.captured_at, c.id),
            _ => (q.to, i64::MIN),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(q.from)
            .bind(upper_time)
            .bind(after_id);
        for (window, condition) in terms {
            query = query.bind(*window);
            match condition {
                PlateCondition::BlindIndex(index) => query = query.bind(index.clone()),
                PlateCondition::Grams { filter: 0, .. } => {}
                PlateCondition::Grams { filter, signature } => {
                    query = query.bind(*filter).bind(*signature)
                }
            }
        }
        if let Some(cameras) = &q.cameras {
            for c in cameras {
                query = query.bind(c.clone());
            }
        }
        let chunk = i64::try_from(chunk).unwrap_or(i64::MAX);
        Ok(query.bind(chunk).fetch_all(self.pool()).await?)
    }
}

/// Listed reads per INSERT (2 parameters each).
const LISTED_PER_INSERT: usize = 500;

fn seq_param(audit_seq: u64) -> Result<i64, StoreError> {
    i64::try_from(audit_seq)
        .map_err(|_| StoreError::Invalid(format!("search number {audit_seq} is out of range")))
}

impl Store {
    /// Records that the search whose audit record is `audit_seq` listed `read_ids`, inside
    /// the caller's transaction (the one appending that record), so both commit together.
    pub async fn record_search_results(
        &self,
        tx: &mut Tx,
        audit_seq: u64,
        read_ids: &[i64],
    ) -> Result<(), StoreError> {
        self.record_listed(
            tx,
            "search_results (audit_seq, read_id)",
            audit_seq,
            read_ids,
        )
        .await
    }

    /// Records that the search of hits whose audit record is `audit_seq` listed `hit_ids`,
    /// inside the caller's transaction (the one appending that record), so both commit
    /// together.
    pub async fn record_search_hits(
        &self,
        tx: &mut Tx,
        audit_seq: u64,
        hit_ids: &[i64],
    ) -> Result<(), StoreError> {
        self.record_listed(tx, "search_hits (audit_seq, hit_id)", audit_seq, hit_ids)
            .await
    }

    /// Inserts `(audit_seq, id)` for each distinct id into `table_columns`, a fixed table
    /// and its two columns.
    async fn record_listed(
        &self,
        tx: &mut Tx,
        table_columns: &'static str,
        audit_seq: u64,
        ids: &[i64],
    ) -> Result<(), StoreError> {
        let seq = seq_param(audit_seq)?;
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(LISTED_PER_INSERT) {
            let sql = format!(
                "INSERT INTO {table_columns} VALUES {}",
                crate::values_rows(self.backend(), chunk.len(), 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(seq).bind(*id);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Whether the search of hits whose audit record is `audit_seq` listed hit `hit_id`
    /// (false once the hit is purged).
    pub async fn search_listed_hit(&self, audit_seq: u64, hit_id: i64) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM search_hits WHERE audit_seq = $1 AND hit_id = $2")
            .bind(seq_param(audit_seq)?)
            .bind(hit_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Whether the search whose audit record is `audit_seq` listed read `read_id` (false
    /// once the read is purged).
    pub async fn search_listed(&self, audit_seq: u64, read_id: i64) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM search_results WHERE audit_seq = $1 AND read_id = $2")
            .bind(seq_param(audit_seq)?)
            .bind(read_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// The read with image `image_id` among those the search `audit_seq` listed, if any.
    pub async fn search_listed_image(
        &self,
        audit_seq: u64,
        image_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT r.id FROM search_results s JOIN reads r ON r.id = s.read_id \
             WHERE s.audit_seq = $1 AND r.image_id = $2 ORDER BY r.id LIMIT 1",
        )
        .bind(seq_param(audit_seq)?)
        .bind(image_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| sqlx::Row::try_get(&r, 0)).transpose()?)
    }
}
