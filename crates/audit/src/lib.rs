//! Audit: the append-only SHA-256 hash chain, signed checkpoints and verification.
//!
//! A caller appends [`AuditEntry`] values through a [`Chain`], which numbers them and links
//! each to the one before by hash, giving [`AuditRecord`]s to store. A signed
//! [`Checkpoint`] publishes the chain's length and head hash; an [`Anchor`] records that
//! the oldest records were pruned under retention. [`verify`] walks stored records and
//! names the first one that was modified, deleted, inserted or reordered, or the checkpoint
//! that the chain no longer matches. A store hands its rows to [`verify`] or a [`Verifier`]
//! as [`RecordText`]s, hashed straight from their stored text.
//!
//! Text that someone not signed in controls goes through [`bounded`] before it is recorded.
//!
//! No clock is read here: every time is passed in.

mod bounded;
mod entry;
mod hash;
mod signed;
mod stored;
mod verify;

pub use bounded::{MAX_UNTRUSTED_BYTES, bounded};
pub use entry::{Actor, AuditEntry, AuditRecord, Chain, Outcome};
pub use hash::{ChainHash, HashParseError, record_hash};
pub use signed::{Anchor, Checkpoint, StatementError, key_id};
pub use stored::{EntryText, RecordText};
pub use verify::{ChainLink, TamperFinding, TamperKind, Verifier, VerifyReport, verify};

/// Re-exported so callers name the same key types.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
