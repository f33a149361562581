//! The instance's federation identity (an Ed25519 key in the data directory) and signed
//! requests between instances.
//!
//! A partner request carries four headers:
//!
//! ```text
//! X-Candor-Agreement: <agreement id>
//! X-Candor-Key:       <sender's public key, hex: one of the agreement's parties>
//! X-Candor-Timestamp: <Unix ms>
//! X-Candor-Nonce:     <random, hex, single use>
//! X-Candor-Signature: <Ed25519 over signing_message(...), hex>
//! ```
//!
//! The signature covers the method, path, agreement, key, timestamp, nonce and the SHA-256
//! of the body, so nothing of the request can be changed or replayed elsewhere.

use std::path::Path;

use axum::http::HeaderMap;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};
use sha2::{Digest, Sha256};

/// File (in the key directory) with the Ed25519 seed that signs federation requests and
/// agreements, mode 0600. Separate from the audit key: each key has one job.
pub const FEDERATION_KEY_FILE: &str = "federation-signing.key";
/// Its public half, hex, to give to partner agencies.
pub const FEDERATION_PUBLIC_KEY_FILE: &str = "federation-signing.pub";
/// How far a request's timestamp may be from this instance's clock.
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

pub const H_AGREEMENT: &str = "x-candor-agreement";
pub const H_KEY: &str = "x-candor-key";
pub const H_TIMESTAMP: &str = "x-candor-timestamp";
pub const H_NONCE: &str = "x-candor-nonce";
pub const H_SIGNATURE: &str = "x-candor-signature";

/// Loads the instance's federation key from `key_dir`, creating it (and its public half)
/// on first use: `candor init` makes it, older data directories get it on first open.
pub fn instance_key(key_dir: &Path) -> anyhow::Result<SigningKey> {
    crate::keyfile::ed25519_key(key_dir, FEDERATION_KEY_FILE, FEDERATION_PUBLIC_KEY_FILE)
}

pub fn public_key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

/// The signed fields of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSignature {
    pub agreement_id: String,
    /// The sender's public key, hex.
    pub key: String,
    pub timestamp: i64,
    pub nonce: String,
    /// Hex.
    pub signature: String,
}

/// The exact bytes a request signature covers.
pub fn signing_message(
    method: &str,
    path: &str,
    agreement_id: &str,
    key: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    format!(
        "candor-federation-request-v1\n{}\n{path}\n{agreement_id}\n{}\n{timestamp}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        key.to_ascii_lowercase(),
        hex::encode(Sha256::digest(body))
    )
    .into_bytes()
}

/// Signs a request now, with a fresh nonce.
pub fn sign_request(
    key: &SigningKey,
    method: &str,
    path: &str,
    agreement_id: &str,
    body: &[u8],
) -> RequestSignature {
    let public = public_key_hex(key);
    let timestamp = candor_store::now_ms();
    let nonce = hex::encode(crate::auth::credentials::random_bytes(16));
    let message = signing_message(method, path, agreement_id, &public, timestamp, &nonce, body);
    RequestSignature {
        agreement_id: agreement_id.to_string(),
        key: public,
        timestamp,
        nonce,
        signature: hex::encode(key.sign(&message).to_bytes()),
    }
}

impl RequestSignature {
    /// The headers that carry it.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (H_AGREEMENT, self.agreement_id.clone()),
            (H_KEY, self.key.clone()),
            (H_TIMESTAMP, self.timestamp.to_string()),
            (H_NONCE, self.nonce.clone()),
            (H_SIGNATURE, self.signature.clone()),
        ]
    }

    /// Reads the headers; `Err` names the ones missing or malformed.
    pub fn from_headers(headers: &HeaderMap) -> Result<RequestSignature, String> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let fields = [H_AGREEMENT, H_KEY, H_TIMESTAMP, H_NONCE, H_SIGNATURE].map(get);
        let missing: Vec<&str> = [H_AGREEMENT, H_KEY, H_TIMESTAMP, H_NONCE, H_SIGNATURE]
            .iter()
            .zip(&fields)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            return Err(format!("missing {}", missing.join(", ")));
        }
        let [agreement_id, key, timestamp, nonce, signature] =
            fields.map(Option::unwrap_or_default);
        let timestamp = timestamp
            .parse::<i64>()
            .map_err(|_| format!("{H_TIMESTAMP} {timestamp:?} is not Unix milliseconds"))?;
        if nonce.len() < 16 || nonce.len() > 128 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{H_NONCE} must be 16 to 128 hex digits"));
        }
        Ok(RequestSignature {
            agreement_id,
            key,
            timestamp,
            nonce,
            signature,
        })
    }

    /// Whether the signature verifies for this request under the sender's key.
    pub fn verifies(&self, method: &str, path: &str, body: &[u8]) -> bool {
        let Some(key) = candor_policy::parse_public_key(&self.key) else {
            return false;
        };
        let Some(signature) = hex::decode(&self.signature)
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok())
        else {
            return false;
        };
        let message = signing_message(
            method,
            path,
            &self.agreement_id,
            &self.key,
            self.timestamp,
            &self.nonce,
            body,
        );
        key.verify(&message, &signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_part_of_the_request() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let s = sign_request(&key, "POST", "/federation/v1/query", "agr-1", b"{\"a\":1}");
        assert!(s.verifies("POST", "/federation/v1/query", b"{\"a\":1}"));
        assert!(!s.verifies("POST", "/federation/v1/query", b"{\"a\":2}"));
        assert!(!s.verifies("POST", "/federation/v1/hits", b"{\"a\":1}"));
        assert!(!s.verifies("GET", "/federation/v1/query", b"{\"a\":1}"));
        let mut other = s.clone();
        other.agreement_id = "agr-2".into();
        assert!(!other.verifies("POST", "/federation/v1/query", b"{\"a\":1}"));
        let mut other = s.clone();
        other.timestamp += 1;
        assert!(!other.verifies("POST", "/federation/v1/query", b"{\"a\":1}"));
        let mut other = s.clone();
        other.key = public_key_hex(&SigningKey::from_bytes(&[8; 32]));
        assert!(!other.verifies("POST", "/federation/v1/query", b"{\"a\":1}"));
    }

    #[test]
    fn headers_round_trip_and_missing_ones_are_named() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let s = sign_request(&key, "POST", "/p", "agr-1", b"x");
        let mut headers = HeaderMap::new();
        for (name, value) in s.headers() {
            headers.insert(name, value.parse().unwrap());
        }
        assert_eq!(RequestSignature::from_headers(&headers).unwrap(), s);
        headers.remove(H_NONCE);
        headers.remove(H_SIGNATURE);
        let err = RequestSignature::from_headers(&headers).unwrap_err();
        assert_eq!(err, "missing x-candor-nonce, x-candor-signature");
    }
}
