//! Signed statements about the chain: checkpoints (length and head hash, published) and
//! anchors (where the chain starts after pruning).
//!
//! Each has a canonical text form, one `name: value` line per field after a header line,
//! then a `signature:` line. The Ed25519 signature covers every byte before the signature
//! line, so the published text can be checked with any Ed25519 tool.

use crate::entry::Chain;
use crate::hash::ChainHash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const CHECKPOINT_HEADER: &str = "candor audit checkpoint v1";
const ANCHOR_HEADER: &str = "candor audit anchor v1";

/// A statement that cannot be read or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("line {line}: {problem}")]
    Parse { line: usize, problem: String },
    #[error("signed by key {found}, not by the given key {expected}")]
    WrongKey { expected: String, found: String },
    #[error("the signature does not match the statement")]
    BadSignature,
}

/// Short, stable name of a public key: `ed25519:` and the first 16 hex digits of the
/// SHA-256 of its bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("ed25519:{}", hex::encode(&digest[..8]))
}

fn time_text(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn sign_body(body: &str, key: &SigningKey) -> [u8; 64] {
    key.sign(body.as_bytes()).to_bytes()
}

fn verify_body(
    body: &str,
    key_id_claimed: &str,
    signature: &[u8; 64],
    key: &VerifyingKey,
) -> Result<(), StatementError> {
    let expected = key_id(key);
    if key_id_claimed != expected {
        return Err(StatementError::WrongKey {
            expected,
            found: key_id_claimed.to_string(),
        });
    }
    key.verify_strict(body.as_bytes(), &Signature::from_bytes(signature))
        .map_err(|_| StatementError::BadSignature)
}

/// Reads `header` then `name: value` lines in the order given, then `signature:`.
/// Returns the values and the signature.
fn parse_statement(
    text: &str,
    header: &str,
    names: &[&str],
) -> Result<(Vec<String>, [u8; 64]), StatementError> {
    let fail = |line: usize, problem: String| StatementError::Parse { line, problem };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, l)) if l == header => {}
        _ => return Err(fail(1, format!("expected {header:?}"))),
    }
    let mut expected_line = 1;
    let mut field = |name: &str| -> Result<(usize, String), StatementError> {
        expected_line += 1;
        let (n, line) = lines
            .next()
            .ok_or_else(|| fail(expected_line, format!("missing \"{name}: ...\" line")))?;
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(": "))
            .map(|v| (n, v.to_string()))
            .ok_or_else(|| fail(n, format!("expected \"{name}: ...\"")))
    };
    let mut values = Vec::with_capacity(names.len());
    for name in names {
        values.push(field(name)?.1);
    }
    let (n, signature) = field("signature")?;
    let mut bytes = [0u8; 64];
    match BASE64.decode(signature.as_bytes()) {
        Ok(decoded) if decoded.len() == 64 => bytes.copy_from_slice(&decoded),
        _ => return Err(fail(n, "signature is not 64 bytes of base64".into())),
    }
    Ok((values, bytes))
}

fn parse_u64(value: &str, name: &str, line: usize) -> Result<u64, StatementError> {
    value.parse().map_err(|_| StatementError::Parse {
        line,
        problem: format!("{name} {value:?} is not a whole number"),
    })
}

fn parse_hash(value: &str, line: usize) -> Result<ChainHash, StatementError> {
    value
        .parse()
        .map_err(|e: crate::HashParseError| StatementError::Parse {
            line,
            problem: e.to_string(),
        })
}

fn parse_time(value: &str, line: usize) -> Result<DateTime<Utc>, StatementError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StatementError::Parse {
            line,
            problem: format!("time {value:?}: {e}"),
        })
}

mod signature_base64 {
    use super::BASE64;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = BASE64
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("signature must be 64 bytes"))
    }
}

/// A signed statement that the chain had `length` records with head `head_hash` at
/// `time`. Published, so that anyone can later check the chain was not rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub length: u64,
    pub head_hash: ChainHash,
    pub time: DateTime<Utc>,
    /// [`key_id`] of the signing key.
    pub key_id: String,
    #[serde(with = "signature_base64")]
    pub signature: [u8; 64],
}

/// The shape both statements share: a header, a number, a hash, a time and a key.
struct Layout {
    header: &'static str,
    number_name: &'static str,
    hash_name: &'static str,
}

const CHECKPOINT: Layout = Layout {
    header: CHECKPOINT_HEADER,
    number_name: "length",
    hash_name: "head",
};

const ANCHOR: Layout = Layout {
    header: ANCHOR_HEADER,
    number_name: "first-seq",
    hash_name: "prev",
};

/// The fields of one statement, read or to be written.
struct Fields {
    number: u64,
    hash: ChainHash,
    time: DateTime<Utc>,
    key_id: String,
    signature: [u8; 64],
}

impl Layout {
    fn body(&self, number: u64, hash: &ChainHash, time: &DateTime<Utc>, key_id: &str) -> String {
        format!(
            "{}\n{}: {number}\n{}: {hash}\ntime: {}\nkey: {key_id}\n",
            self.header,
            self.number_name,
            self.hash_name,
            time_text(time)
        )
    }

    fn text(&self, body: String, signature: &[u8; 64]) -> String {
        format!("{body}signature: {}\n", BASE64.encode(signature))
    }

    fn parse(&self, text: &str) -> Result<Fields, StatementError> {
        let names = [self.number_name, self.hash_name, "time", "key"];
        let (v, signature) = parse_statement(text, self.header, &names)?;
        Ok(Fields {
            number: parse_u64(&v[0], self.number_name, 2)?,
            hash: parse_hash(&v[1], 3)?,
            time: parse_time(&v[2], 4)?,
            key_id: v[3].clone(),
            signature,
        })
    }
}

impl Checkpoint {
    /// The first line of a checkpoint's text, by which it is found in a page that holds it.
    pub const HEADER: &'static str = CHECKPOINT_HEADER;

    /// Signs a checkpoint (time cut to milliseconds).
    pub fn sign(
        length: u64,
        head_hash: ChainHash,
        time: DateTime<Utc>,
        key: &SigningKey,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            length,
            head_hash,
            time: time.trunc_subsecs(3),
            key_id: key_id(&key.verifying_key()),
            signature: [0; 64],
        };
        checkpoint.signature = sign_body(&checkpoint.body(), key);
        checkpoint
    }

    /// The signed text (everything but the signature line).
    pub fn body(&self) -> String {
        CHECKPOINT.body(self.length, &self.head_hash, &self.time, &self.key_id)
    }

    /// Checks the signature against `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), StatementError> {
        verify_body(&self.body(), &self.key_id, &self.signature, key)
    }

    /// The canonical text for publishing.
    pub fn to_text(&self) -> String {
        CHECKPOINT.text(self.body(), &self.signature)
    }

    /// Reads the canonical text (the signature is not checked; call [`Checkpoint::verify`]).
    pub fn from_text(text: &str) -> Result<Checkpoint, StatementError> {
        let f = CHECKPOINT.parse(text)?;
        Ok(Checkpoint {
            length: f.number,
            head_hash: f.hash,
            time: f.time,
            key_id: f.key_id,
            signature: f.signature,
        })
    }
}

/// A signed statement that records before `seq` were pruned under retention at `time`,
/// and that record `seq` links to `prev_hash` (the hash of the last pruned record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The first record kept.
    pub seq: u64,
    /// Hash of record `seq - 1`, which the first kept record chains from.
    pub prev_hash: ChainHash,
    pub time: DateTime<Utc>,
    pub key_id: String,
    #[serde(with = "signature_base64")]
    pub signature: [u8; 64],
}

impl Anchor {
    /// Signs an anchor (time cut to milliseconds).
    pub fn sign(seq: u64, prev_hash: ChainHash, time: DateTime<Utc>, key: &SigningKey) -> Anchor {
        let mut anchor = Anchor {
            seq,
            prev_hash,
            time: time.trunc_subsecs(3),
            key_id: key_id(&key.verifying_key()),
            signature: [0; 64],
        };
        anchor.signature = sign_body(&anchor.body(), key);
        anchor
    }

    /// The signed text (everything but the signature line).
    pub fn body(&self) -> String {
        ANCHOR.body(self.seq, &self.prev_hash, &self.time, &self.key_id)
    }

    /// Checks the signature against `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), StatementError> {
        verify_body(&self.body(), &self.key_id, &self.signature, key)
    }

    /// The canonical text for publishing.
    pub fn to_text(&self) -> String {
        ANCHOR.text(self.body(), &self.signature)
    }

    /// Reads the canonical text (the signature is not checked; call [`Anchor::verify`]).
    pub fn from_text(text: &str) -> Result<Anchor, StatementError> {
        let f = ANCHOR.parse(text)?;
        Ok(Anchor {
            seq: f.number,
            prev_hash: f.hash,
            time: f.time,
            key_id: f.key_id,
            signature: f.signature,
        })
    }
}

impl Chain {
    /// Signs a checkpoint of the chain as it is now.
    pub fn checkpoint(&self, time: DateTime<Utc>, key: &SigningKey) -> Checkpoint {
        Checkpoint::sign(self.len(), self.head(), time, key)
    }

    /// Starts a chain whose records before `anchor.seq` were all pruned.
    pub fn from_anchor(anchor: &Anchor) -> Chain {
        Chain::resume(anchor.seq, anchor.prev_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn when() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_764_339_200_250).unwrap()
    }

    #[test]
    fn checkpoint_signs_verifies_and_round_trips_as_text() {
        let cp = Checkpoint::sign(42, ChainHash([7; 32]), when(), &key(1));
        cp.verify(&key(1).verifying_key()).unwrap();
        let text = cp.to_text();
        assert!(text.starts_with("candor audit checkpoint v1\nlength: 42\nhead: 0707"));
        assert!(text.contains("time: 2025-11-28T14:13:20.250Z\n"), "{text}");
        let back = Checkpoint::from_text(&text).unwrap();
        assert_eq!(back, cp);
        back.verify(&key(1).verifying_key()).unwrap();
        let json = serde_json::to_string(&cp).unwrap();
        assert_eq!(serde_json::from_str::<Checkpoint>(&json).unwrap(), cp);
    }

    #[test]
    fn altered_or_foreign_checkpoints_fail() {
        let cp = Checkpoint::sign(42, ChainHash([7; 32]), when(), &key(1));
        let public = key(1).verifying_key();
        let longer = Checkpoint {
            length: 43,
            ..cp.clone()
        };
        assert_eq!(longer.verify(&public), Err(StatementError::BadSignature));
        let edited = cp.to_text().replace("length: 42", "length: 41");
        assert_eq!(
            Checkpoint::from_text(&edited).unwrap().verify(&public),
            Err(StatementError::BadSignature)
        );
        assert!(matches!(
            cp.verify(&key(2).verifying_key()),
            Err(StatementError::WrongKey { .. })
        ));
        // a forger who also rewrites key_id still fails the signature
        let forged = Checkpoint::sign(42, ChainHash([8; 32]), when(), &key(2));
        let disguised = Checkpoint {
            key_id: cp.key_id.clone(),
            ..forged
        };
        assert_eq!(disguised.verify(&public), Err(StatementError::BadSignature));
    }

    #[test]
    fn malformed_text_names_the_line() {
        let text = Checkpoint::sign(1, ChainHash([0; 32]), when(), &key(1)).to_text();
        let bad_length = text.replace("length: 1", "length: one");
        assert!(matches!(
            Checkpoint::from_text(&bad_length),
            Err(StatementError::Parse { line: 2, .. })
        ));
        assert!(matches!(
            Checkpoint::from_text("hello"),
            Err(StatementError::Parse { line: 1, .. })
        ));
        let truncated: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert!(Checkpoint::from_text(&truncated).is_err());
        let bad_sig = format!(
            "{}signature: AAAA\n",
            text.rsplit_once("signature").unwrap().0
        );
        assert!(matches!(
            Checkpoint::from_text(&bad_sig),
            Err(StatementError::Parse { line: 6, .. })
        ));
    }

    #[test]
    fn anchor_signs_verifies_and_round_trips() {
        let anchor = Anchor::sign(1000, ChainHash([3; 32]), when(), &key(1));
        anchor.verify(&key(1).verifying_key()).unwrap();
        let back = Anchor::from_text(&anchor.to_text()).unwrap();
        assert_eq!(back, anchor);
        let moved = Anchor { seq: 999, ..anchor };
        assert_eq!(
            moved.verify(&key(1).verifying_key()),
            Err(StatementError::BadSignature)
        );
        let chain = Chain::from_anchor(&back);
        assert_eq!((chain.len(), chain.head()), (1000, ChainHash([3; 32])));
    }

    #[test]
    fn key_ids_are_stable_and_distinct() {
        let a = key_id(&key(1).verifying_key());
        assert!(a.starts_with("ed25519:") && a.len() == 24);
        assert_eq!(a, key_id(&key(1).verifying_key()));
        assert_ne!(a, key_id(&key(2).verifying_key()));
    }
}
