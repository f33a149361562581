//! Federation records: sharing agreements with their signatures and revocations, seen
//! request nonces (replay protection), hits received from partners, the durable outbox of
//! notifications to partners, and the log of shared queries in both directions.
//!
//! The agreement terms are stored as the signed JSON; deciding what they allow is the
//! policy crate's job. Received hits and outbox bodies carry plate data, so both are sealed
//! with the key window of their expiry and die with it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::keys::KeyRing;
use crate::{Store, StoreError};

/// A new agreement (drafted here or imported from the partner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgreement {
    pub id: String,
    pub terms: String,
    pub partner_agency: String,
    pub partner_url: String,
    pub partner_key: String,
    pub scope_summary: String,
    pub effective_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSignature {
    pub public_key: String,
    pub signer: String,
    pub signed_at: i64,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub revoked_at: i64,
    /// `local` or `partner`.
    pub side: String,
    pub revoked_by: String,
    pub reason: String,
}

/// What revoking an agreement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationOutcome {
    /// False when it was revoked already (the first revocation stands).
    pub first: bool,
    /// Local hot lists received under the agreement, withdrawn by the revocation.
    pub withdrawn_lists: Vec<String>,
}

/// An agreement with its signatures and revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementRecord {
    pub id: String,
    pub terms: String,
    pub partner_agency: String,
    pub partner_url: String,
    pub partner_key: String,
    pub scope_summary: String,
    pub effective_at: i64,
    pub expires_at: i64,
    pub created_at: i64,
    pub signatures: Vec<StoredSignature>,
    pub revocation: Option<Revocation>,
}

/// What the public may know of an agreement: with whom, what, when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AgreementSummary {
    pub partner_agency: String,
    pub scope: String,
    pub effective_at: i64,
    pub expires_at: i64,
    /// Both parties have signed.
    pub signed_by_both: bool,
    pub revoked_at: Option<i64>,
}

/// A hit notification received from a partner.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedHit {
    pub id: i64,
    pub agreement_id: String,
    pub partner_agency: String,
    pub hit_type: String,
    pub received_at: i64,
    pub expires_at: i64,
    /// The notification as received (JSON).
    pub payload: Vec<u8>,
}

/// A hit notification to keep, as received.
#[derive(Debug, Clone, Copy)]
pub struct NewReceivedHit<'a> {
    pub agreement_id: &'a str,
    pub partner_agency: &'a str,
    pub hit_type: &'a str,
    /// The notification (JSON).
    pub payload: &'a [u8],
    pub received_at: i64,
    /// The agreement's retention at the recipient ends here.
    pub expires_at: i64,
}

/// A message to queue for a partner.
#[derive(Debug, Clone, Copy)]
pub struct NewOutboxMessage<'a> {
    pub agreement_id: &'a str,
    /// `hit` or `revocation`.
    pub kind: &'a str,
    /// The partner instance's base URL.
    pub url: &'a str,
    pub body: &'a [u8],
    pub created_at: i64,
    /// Undelivered by then, it can no longer be read (its sealing window ends).
    pub expires_at: i64,
}

/// A message waiting for (or done with) delivery to a partner.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub agreement_id: String,
    /// `hit` or `revocation`.
    pub kind: String,
    pub url: String,
    pub body: Vec<u8>,
    pub attempts: i64,
    pub delivered_at: Option<i64>,
    pub gave_up_at: Option<i64>,
    pub last_error: Option<String>,
}

/// One shared query, incoming or outgoing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FederationRequest {
    pub agreement_id: String,
    /// `incoming` or `outgoing`.
    pub direction: String,
    pub partner_agency: String,
    pub user_name: String,
    pub user_role: String,
    pub purpose_category: String,
    pub case_number: String,
    /// `answered`, `denied` or `failed`.
    pub outcome: String,
    /// The denial or failure, in words; empty when answered.
    pub reason: String,
    pub result_count: i64,
    pub at: i64,
}

/// Shared queries with one partner agency.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct PartnerQueryCounts {
    pub partner_agency: String,
    /// Queries the partner made here and that were answered.
    pub incoming_answered: i64,
    /// Queries the partner made here that were refused.
    pub incoming_denied: i64,
    /// Queries this agency's users made to the partner.
    pub outgoing: i64,
}

const AGREEMENT_COLUMNS: &str = "id, terms, partner_agency, partner_url, partner_key, scope_summary, effective_at, expires_at, created_at";

const RECEIVED_AAD: &[u8] = b"candor-received-hit";
const OUTBOX_AAD: &[u8] = b"candor-federation-outbox";

impl Store {
    /// Stores a new agreement; [`StoreError::Conflict`] when its id is taken.
    pub async fn insert_agreement(&self, a: &NewAgreement, now: i64) -> Result<(), StoreError> {
        let res = sqlx::query(
            "INSERT INTO agreements (id, terms, partner_agency, partner_url, partner_key, scope_summary, effective_at, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&a.id)
        .bind(&a.terms)
        .bind(&a.partner_agency)
        .bind(&a.partner_url)
        .bind(&a.partner_key)
        .bind(&a.scope_summary)
        .bind(a.effective_at)
        .bind(a.expires_at)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(StoreError::from);
        match res {
            Err(e) if e.is_unique_violation() => Err(StoreError::Conflict(format!(
                "an agreement with id {:?} already exists",
                a.id
            ))),
            other => other.map(|_| ()),
        }
    }

    async fn complete_agreement(&self, r: &AnyRow) -> Result<AgreementRecord, StoreError> {
        let id: String = r.try_get("id")?;
        let signatures = sqlx::query(
            "SELECT public_key, signer, signed_at, signature FROM agreement_signatures \
             WHERE agreement_id = $1 ORDER BY signed_at, public_key",
        )
        .bind(&id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|s| {
            Ok(StoredSignature {
                public_key: s.try_get("public_key")?,
                signer: s.try_get("signer")?,
                signed_at: s.try_get("signed_at")?,
                signature: s.try_get("signature")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let revocation = sqlx::query(
            "SELECT revoked_at, side, revoked_by, reason FROM agreement_revocations WHERE agreement_id = $1",
        )
        .bind(&id)
        .fetch_optional(self.pool())
        .await?
        .map(|v| -> Result<Revocation, sqlx::Error> {
            Ok(Revocation {
                revoked_at: v.try_get("revoked_at")?,
                side: v.try_get("side")?,
                revoked_by: v.try_get("revoked_by")?,
                reason: v.try_get("reason")?,
            })
        })
        .transpose()?;
        Ok(AgreementRecord {
            id,
            terms: r.try_get("terms")?,
            partner_agency: r.try_get("partner_agency")?,
            partner_url: r.try_get("partner_url")?,
            partner_key: r.try_get("partner_key")?,
            scope_summary: r.try_get("scope_summary")?,
            effective_at: r.try_get("effective_at")?,
            expires_at: r.try_get("expires_at")?,
            created_at: r.try_get("created_at")?,
            signatures,
            revocation,
        })
    }

    pub async fn agreement(&self, id: &str) -> Result<Option<AgreementRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => Ok(Some(self.complete_agreement(&r).await?)),
            None => Ok(None),
        }
    }

    /// Every agreement, newest first.
    pub async fn agreements(&self) -> Result<Vec<AgreementRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGREEMENT_COLUMNS} FROM agreements ORDER BY created_at DESC, id"
        )))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.complete_agreement(r).await?);
        }
        Ok(out)
    }

    /// Adds a party's signature, replacing an earlier one by the same key.
    pub async fn put_agreement_signature(
        &self,
        agreement_id: &str,
        s: &StoredSignature,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM agreement_signatures WHERE agreement_id = $1 AND public_key = $2")
            .bind(agreement_id)
            .bind(&s.public_key)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO agreement_signatures (agreement_id, public_key, signer, signed_at, signature) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(agreement_id)
        .bind(&s.public_key)
        .bind(&s.signer)
        .bind(s.signed_at)
        .bind(&s.signature)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes an agreement (the first revocation stands) and, in the same transaction,
    /// withdraws the hot lists received under it, so nothing shared under a revoked
    /// agreement is matched again. Hits already made keep their sealed copy.
    pub async fn revoke_agreement(
        &self,
        agreement_id: &str,
        r: &Revocation,
    ) -> Result<RevocationOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO agreement_revocations (agreement_id, revoked_at, side, revoked_by, reason) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agreement_id) DO NOTHING",
        )
        .bind(agreement_id)
        .bind(r.revoked_at)
        .bind(&r.side)
        .bind(&r.revoked_by)
        .bind(&r.reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let withdrawn_lists: Vec<String> = sqlx::query_scalar(
            "SELECT list_name FROM partner_hot_lists WHERE agreement_id = $1 ORDER BY list_name",
        )
        .bind(agreement_id)
        .fetch_all(&mut *tx)
        .await?;
        for name in &withdrawn_lists {
            sqlx::query(
                "DELETE FROM hot_list_entries WHERE list_id IN (SELECT id FROM hot_lists WHERE name = $1)",
            )
            .bind(name)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM hot_lists WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM partner_hot_lists WHERE agreement_id = $1")
            .bind(agreement_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RevocationOutcome {
            first: inserted == 1,
            withdrawn_lists,
        })
    }

    /// Public summary of every agreement: partner, scope, dates, whether in force.
    pub async fn agreement_summaries(&self) -> Result<Vec<AgreementSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.partner_agency, a.scope_summary, a.effective_at, a.expires_at, \
             (SELECT COUNT(*) FROM agreement_signatures s WHERE s.agreement_id = a.id) AS signatures, \
             r.revoked_at \
             FROM agreements a LEFT JOIN agreement_revocations r ON r.agreement_id = a.id \
             ORDER BY a.effective_at, a.id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let signatures: i64 = r.try_get("signatures")?;
                Ok(AgreementSummary {
                    partner_agency: r.try_get("partner_agency")?,
                    scope: r.try_get("scope_summary")?,
                    effective_at: r.try_get("effective_at")?,
                    expires_at: r.try_get("expires_at")?,
                    signed_by_both: signatures >= 2,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Records a signed request's nonce. False when it was seen before (a replay). Nonces
    /// older than `keep_ms` are forgotten: requests that old are refused by their timestamp.
    pub async fn remember_nonce(
        &self,
        agreement_id: &str,
        nonce: &str,
        now: i64,
        keep_ms: i64,
    ) -> Result<bool, StoreError> {
        sqlx::query("DELETE FROM federation_nonces WHERE seen_at < $1")
            .bind(now - keep_ms)
            .execute(self.pool())
            .await?;
        let res = sqlx::query(
            "INSERT INTO federation_nonces (agreement_id, nonce, seen_at) VALUES ($1, $2, $3)",
        )
        .bind(agreement_id)
        .bind(nonce)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(StoreError::from);
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores a partner's hit notification, sealed, until `expires_at` (the agreement's
    /// retention at the recipient).
    pub async fn store_received_hit(
        &self,
        keys: &KeyRing,
        hit: &NewReceivedHit<'_>,
    ) -> Result<i64, StoreError> {
        let window = keys.window_for(hit.expires_at);
        let sealed = keys
            .get_or_create(window)?
            .seal(RECEIVED_AAD, hit.payload)?;
        let row = sqlx::query(
            "INSERT INTO received_hits (agreement_id, partner_agency, hit_type, received_at, expires_at, key_window, sealed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(hit.agreement_id)
        .bind(hit.partner_agency)
        .bind(hit.hit_type)
        .bind(hit.received_at)
        .bind(hit.expires_at)
        .bind(window)
        .bind(sealed)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Received hits not yet expired, newest first.
    pub async fn received_hits(
        &self,
        keys: &KeyRing,
        now: i64,
        limit: i64,
    ) -> Result<Vec<ReceivedHit>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, agreement_id, partner_agency, hit_type, received_at, expires_at, key_window, sealed \
             FROM received_hits WHERE expires_at > $1 ORDER BY received_at DESC, id DESC LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let window: i64 = r.try_get("key_window")?;
            let Some(wk) = keys.get(window)? else {
                continue;
            };
            let sealed: Vec<u8> = r.try_get("sealed")?;
            out.push(ReceivedHit {
                id: r.try_get("id")?,
                agreement_id: r.try_get("agreement_id")?,
                partner_agency: r.try_get("partner_agency")?,
                hit_type: r.try_get("hit_type")?,
                received_at: r.try_get("received_at")?,
                expires_at: r.try_get("expires_at")?,
                payload: wk.open(RECEIVED_AAD, &sealed)?,
            });
        }
        Ok(out)
    }

    /// Deletes received hits past their retention; returns how many.
    pub async fn purge_received_hits(&self, now: i64) -> Result<u64, StoreError> {
        let res = sqlx::query("DELETE FROM received_hits WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(res.rows_affected())
    }

    /// Queues a message to a partner, durably, sealed until `expires_at` at most.
    pub async fn enqueue_outbox(
        &self,
        keys: &KeyRing,
        m: &NewOutboxMessage<'_>,
    ) -> Result<i64, StoreError> {
        let window = keys.window_for(m.expires_at);
        let sealed = keys.get_or_create(window)?.seal(OUTBOX_AAD, m.body)?;
        let row = sqlx::query(
            "INSERT INTO federation_outbox (agreement_id, kind, url, key_window, sealed, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(m.agreement_id)
        .bind(m.kind)
        .bind(m.url)
        .bind(window)
        .bind(sealed)
        .bind(m.created_at)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("id")?)
    }

    fn outbox_item(keys: &KeyRing, r: &AnyRow) -> Result<OutboxItem, StoreError> {
        let window: i64 = r.try_get("key_window")?;
        let sealed: Vec<u8> = r.try_get("sealed")?;
        let body = match keys.get(window)? {
            Some(wk) if !sealed.is_empty() => wk.open(OUTBOX_AAD, &sealed)?,
            _ => Vec::new(),
        };
        Ok(OutboxItem {
            id: r.try_get("id")?,
            agreement_id: r.try_get("agreement_id")?,
            kind: r.try_get("kind")?,
            url: r.try_get("url")?,
            body,
            attempts: r.try_get("attempts")?,
            delivered_at: r.try_get("delivered_at")?,
            gave_up_at: r.try_get("gave_up_at")?,
            last_error: r.try_get("last_error")?,
        })
    }

    /// Messages due for a delivery attempt at `now`, oldest first.
    pub async fn due_outbox(
        &self,
        keys: &KeyRing,
        now: i64,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, agreement_id, kind, url, key_window, sealed, attempts, delivered_at, gave_up_at, last_error \
             FROM federation_outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Self::outbox_item(keys, r)).collect()
    }

    /// Every message for one agreement, oldest first (for operators and tests).
    pub async fn outbox_for(
        &self,
        keys: &KeyRing,
        agreement_id: &str,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, agreement_id, kind, url, key_window, sealed, attempts, delivered_at, gave_up_at, last_error \
             FROM federation_outbox WHERE agreement_id = $1 ORDER BY id",
        )
        .bind(agreement_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Self::outbox_item(keys, r)).collect()
    }

    /// Marks a message delivered and drops its body (the partner holds it now).
    pub async fn outbox_delivered(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE federation_outbox SET delivered_at = $2, attempts = attempts + 1, sealed = $3, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(Vec::<u8>::new())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or given up (body dropped) when
    /// `None`.
    pub async fn outbox_failed(
        &self,
        id: i64,
        now: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        match retry_at {
            Some(at) => sqlx::query(
                "UPDATE federation_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(error)
            .execute(self.pool())
            .await?,
            None => sqlx::query(
                "UPDATE federation_outbox SET attempts = attempts + 1, gave_up_at = $2, last_error = $3, sealed = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(error)
            .bind(Vec::<u8>::new())
            .execute(self.pool())
            .await?,
        };
        Ok(())
    }

    /// Gives up the undelivered messages of `kind` under the agreement, dropping their
    /// bodies: a newer message says all they said (a newer audit checkpoint).
    pub async fn supersede_outbox(
        &self,
        agreement_id: &str,
        kind: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        let res = sqlx::query(
            "UPDATE federation_outbox SET gave_up_at = $3, last_error = 'superseded by a newer message', sealed = $4 \
             WHERE agreement_id = $1 AND kind = $2 AND delivered_at IS NULL AND gave_up_at IS NULL",
        )
        .bind(agreement_id)
        .bind(kind)
        .bind(now)
        .bind(Vec::<u8>::new())
        .execute(self.pool())
        .await?;
        Ok(res.rows_affected())
    }

    /// Logs a shared query (after its audit record).
    pub async fn record_federation_request(&self, r: &FederationRequest) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO federation_requests (agreement_id, direction, partner_agency, user_name, user_role, purpose_category, case_number, outcome, reason, result_count, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&r.agreement_id)
        .bind(&r.direction)
        .bind(&r.partner_agency)
        .bind(&r.user_name)
        .bind(&r.user_role)
        .bind(&r.purpose_category)
        .bind(&r.case_number)
        .bind(&r.outcome)
        .bind(&r.reason)
        .bind(r.result_count)
        .bind(r.at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Shared queries in `direction` (`incoming` or `outgoing`), newest first.
    pub async fn federation_requests(
        &self,
        direction: &str,
        limit: i64,
    ) -> Result<Vec<FederationRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT agreement_id, direction, partner_agency, user_name, user_role, purpose_category, case_number, outcome, reason, result_count, at \
             FROM federation_requests WHERE direction = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(direction)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FederationRequest {
                    agreement_id: r.try_get("agreement_id")?,
                    direction: r.try_get("direction")?,
                    partner_agency: r.try_get("partner_agency")?,
                    user_name: r.try_get("user_name")?,
                    user_role: r.try_get("user_role")?,
                    purpose_category: r.try_get("purpose_category")?,
                    case_number: r.try_get("case_number")?,
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    result_count: r.try_get("result_count")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// Shared queries per partner agency between `from` and `to` (Unix ms, `to` exclusive),
    /// for reports and the transparency page.
    pub async fn shared_query_counts(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<PartnerQueryCounts>, StoreError> {
        let rows = sqlx::query(
            "SELECT partner_agency, direction, outcome, COUNT(*) AS n FROM federation_requests \
             WHERE at >= $1 AND at < $2 GROUP BY partner_agency, direction, outcome \
             ORDER BY partner_agency",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<PartnerQueryCounts> = Vec::new();
        for r in &rows {
            let partner: String = r.try_get("partner_agency")?;
            let direction: String = r.try_get("direction")?;
            let outcome: String = r.try_get("outcome")?;
            let n: i64 = r.try_get("n")?;
            if out.last().is_none_or(|c| c.partner_agency != partner) {
                out.push(PartnerQueryCounts {
                    partner_agency: partner,
                    ..Default::default()
                });
            }
            let counts = out.last_mut().expect("pushed above");
            match (direction.as_str(), outcome.as_str()) {
                ("incoming", "answered") => counts.incoming_answered += n,
                ("incoming", _) => counts.incoming_denied += n,
                _ => counts.outgoing += n,
            }
        }
        Ok(out)
    }
}

/// Where a hot list received from a partner came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PartnerHotList {
    /// The local hot list's name.
    pub list_name: String,
    pub agreement_id: String,
    pub partner_agency: String,
    /// The list's name at the partner.
    pub remote_name: String,
    /// The list's version at the partner when it was pulled.
    pub remote_version: i64,
    pub entry_count: i64,
    pub imported_at: i64,
    /// The local user who pulled it.
    pub imported_by: String,
}

impl Store {
    /// Replaces (or creates) the local copy of a partner's hot list and records where it
    /// came from. `spec.source` must be [`ListSource::Partner`](crate::hotlists::ListSource).
    pub async fn import_partner_hot_list(
        &self,
        spec: &crate::hotlists::HotListSpec,
        entries: &[crate::hotlists::HotListEntry],
        origin: &PartnerHotList,
    ) -> Result<crate::hotlists::HotList, StoreError> {
        if spec.source != crate::hotlists::ListSource::Partner || spec.name != origin.list_name {
            return Err(StoreError::Invalid(
                "a partner's hot list is stored with source partner under its recorded name".into(),
            ));
        }
        let list = self.replace_hot_list(spec, entries).await?;
        sqlx::query(
            "INSERT INTO partner_hot_lists (list_name, agreement_id, partner_agency, remote_name, remote_version, entry_count, imported_at, imported_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (list_name) DO UPDATE SET agreement_id = excluded.agreement_id, partner_agency = excluded.partner_agency, \
             remote_name = excluded.remote_name, remote_version = excluded.remote_version, entry_count = excluded.entry_count, \
             imported_at = excluded.imported_at, imported_by = excluded.imported_by",
        )
        .bind(&origin.list_name)
        .bind(&origin.agreement_id)
        .bind(&origin.partner_agency)
        .bind(&origin.remote_name)
        .bind(origin.remote_version)
        .bind(entries.len() as i64)
        .bind(origin.imported_at)
        .bind(&origin.imported_by)
        .execute(self.pool())
        .await?;
        Ok(list)
    }

    /// Every hot list received from a partner, by local name.
    pub async fn partner_hot_lists(&self) -> Result<Vec<PartnerHotList>, StoreError> {
        let rows = sqlx::query(
            "SELECT list_name, agreement_id, partner_agency, remote_name, remote_version, entry_count, imported_at, imported_by \
             FROM partner_hot_lists ORDER BY list_name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PartnerHotList {
                    list_name: r.try_get("list_name")?,
                    agreement_id: r.try_get("agreement_id")?,
                    partner_agency: r.try_get("partner_agency")?,
                    remote_name: r.try_get("remote_name")?,
                    remote_version: r.try_get("remote_version")?,
                    entry_count: r.try_get("entry_count")?,
                    imported_at: r.try_get("imported_at")?,
                    imported_by: r.try_get("imported_by")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The hot list named `name` with its entries (at most `limit`), for sharing it with a
    /// partner.
    pub async fn hot_list_by_name(
        &self,
        name: &str,
        limit: i64,
    ) -> Result<Option<(crate::hotlists::HotList, Vec<crate::hotlists::HotListEntry>)>, StoreError>
    {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM hot_lists WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        let Some(id) = id else { return Ok(None) };
        let Some(list) = self.get_hot_list(id).await? else {
            return Ok(None);
        };
        let entries = self.hot_list_entries(id, limit).await?;
        Ok(Some((list, entries)))
    }
}
