//! Credential primitives: argon2id password hashes, TOTP second factors, recovery codes and
//! opaque random tokens (sessions, CSRF, API keys). Pure functions, no storage or HTTP.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest password accepted for a person's account.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (argon2 cost grows with it; nobody types more).
pub const MAX_PASSWORD_LEN: usize = 256;
/// Number of one-time recovery codes issued at TOTP enrolment.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// TOTP secret length in bytes (RFC 4226 recommends 160 bits).
pub const TOTP_SECRET_LEN: usize = 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    #[error(
        "the password is too short: use at least {MIN_PASSWORD_LEN} characters (a passphrase of several words is easiest)"
    )]
    PasswordTooShort,
    #[error("the password is too long: use at most {MAX_PASSWORD_LEN} characters")]
    PasswordTooLong,
    #[error("the password must not contain the username")]
    PasswordContainsUsername,
    #[error(
        "the password is too easy to guess ({why}): use a passphrase of several unrelated words"
    )]
    PasswordGuessable { why: String },
    #[error("could not hash the password: {0}")]
    Hashing(String),
    #[error("the stored TOTP secret is unusable: {0}")]
    TotpSecret(String),
}

/// Checks a new password against the account rules (length, not the username).
pub fn check_new_password(username: &str, password: &str) -> Result<(), CredentialError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(CredentialError::PasswordTooShort);
    }
    if chars > MAX_PASSWORD_LEN {
        return Err(CredentialError::PasswordTooLong);
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(CredentialError::PasswordContainsUsername);
    }
    let estimate = zxcvbn::zxcvbn(password, &[username, "candor", "alpr"]);
    if estimate.score() < MIN_PASSWORD_SCORE {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map_or_else(|| "a common pattern".to_string(), |w| w.to_string());
        return Err(CredentialError::PasswordGuessable {
            why: why.trim_end_matches('.').to_lowercase(),
        });
    }
    Ok(())
}

/// Least zxcvbn score a new password needs: 3, "safely unguessable" (more than 10^8
/// guesses); `aaaaaaaaaaaa`, `password1234` and `qwertyuiop12` score 0 or 1.
pub const MIN_PASSWORD_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) and a random salt,
/// giving a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$...`.
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CredentialError::Hashing(e.to_string()))
}

/// True when `password` matches the PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN * 4 {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// Spends the same argon2 work as a real check, so that an unknown username takes as long to
/// reject as a wrong password (no account enumeration by timing).
pub fn verify_password_against_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(phc) = DUMMY.get_or_init(|| hash_password("candor-no-such-user-dummy").ok()) {
        let _ = verify_password(password, phc);
    }
}

/// `n` random bytes from the operating system's CSPRNG (through `rand`'s thread generator,
/// which is seeded from it and reseeds).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A fresh 256-bit token, URL-safe base64 without padding (43 characters).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(32))
}

/// SHA-256 of a high-entropy token, hex. Sessions, API keys and recovery codes are stored only
/// as this digest, so a copy of the database does not hand out live credentials.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality for secrets such as CSRF tokens.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new random TOTP secret.
pub fn new_totp_secret() -> Vec<u8> {
    random_bytes(TOTP_SECRET_LEN)
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<totp_rs::Totp, CredentialError> {
    // ':' is the label separator in otpauth URLs; authenticator apps split on it.
    let clean = |s: &str| s.replace(':', "-");
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .map_err(|e| CredentialError::TotpSecret(e.to_string()))
}

/// What an authenticator app needs to enrol: the base32 secret (typed by hand) and the
/// `otpauth://` URL (scanned as a QR code).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TotpEnrolment {
    pub secret_base32: String,
    pub otpauth_url: String,
}

pub fn totp_enrolment(
    secret: &[u8],
    issuer: &str,
    account: &str,
) -> Result<TotpEnrolment, CredentialError> {
    let t = totp(secret, issuer, account)?;
    Ok(TotpEnrolment {
        secret_base32: t.secret().to_base32(),
        otpauth_url: t
            .to_url()
            .map_err(|e| CredentialError::TotpSecret(e.to_string()))?,
    })
}

/// Checks a 6-digit TOTP code at `unix_secs` (one 30 s step of clock skew either way). Returns
/// the time step it matched, or `None`. A step at or before `last_used_step` is refused, so a
/// code cannot be replayed (RFC 6238 §5.2).
pub fn check_totp(
    secret: &[u8],
    code: &str,
    unix_secs: u64,
    last_used_step: Option<i64>,
) -> Result<Option<i64>, CredentialError> {
    let t = totp(secret, "candor", "check")?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let step = t
        .check(&code, unix_secs)
        .and_then(|s| i64::try_from(s).ok());
    Ok(match (step, last_used_step) {
        (Some(s), Some(last)) if s <= last => None,
        (s, _) => s,
    })
}

/// The code an authenticator would show at `unix_secs` (used by tests and the CLI's
/// self-check; never by the sign-in path).
pub fn totp_code_at(secret: &[u8], unix_secs: u64) -> Result<String, CredentialError> {
    Ok(totp(secret, "candor", "check")?
        .generate(unix_secs)
        .to_string())
}

/// Fresh one-time recovery codes, `xxxxx-xxxxx-xxxxx` in lower-case base32 (75 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let bytes = random_bytes(15);
            let chars: Vec<char> = bytes
                .iter()
                .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
                .collect();
            chars
                .chunks(5)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// Canonical form of a recovery code as typed (case, spaces and dashes ignored), then digested
/// for storage and lookup.
pub fn recovery_code_digest(code: &str) -> String {
    let canonical: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    token_digest(&canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_is_argon2id_and_verifies() {
        let phc = hash_password("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc));
        assert!(!verify_password("correct horse battery stapler", &phc));
        assert!(!verify_password("anything", "not a phc string"));
        // Salted: the same password hashes differently each time.
        assert_ne!(phc, hash_password("correct horse battery staple").unwrap());
    }

    #[test]
    fn new_password_rules() {
        assert_eq!(
            check_new_password("alice", "short"),
            Err(CredentialError::PasswordTooShort)
        );
        assert_eq!(
            check_new_password("alice", "my name is Alice ok"),
            Err(CredentialError::PasswordContainsUsername)
        );
        assert_eq!(
            check_new_password("alice", &"x".repeat(300)),
            Err(CredentialError::PasswordTooLong)
        );
        assert!(check_new_password("alice", "a long enough passphrase").is_ok());
        for weak in [
            "aaaaaaaaaaaa",
            "password1234",
            "qwertyuiop12",
            "abcabcabcabc",
        ] {
            assert!(
                matches!(
                    check_new_password("alice", weak),
                    Err(CredentialError::PasswordGuessable { .. })
                ),
                "{weak}"
            );
        }
    }

    #[test]
    fn totp_accepts_current_and_adjacent_steps_and_refuses_replay() {
        let secret = new_totp_secret();
        let now = 1_800_000_000u64;
        let code = totp_code_at(&secret, now).unwrap();
        let step = check_totp(&secret, &code, now, None).unwrap().unwrap();
        assert_eq!(step, (now / 30) as i64);
        // One step of skew either way is tolerated; two are not.
        let prev = totp_code_at(&secret, now - 30).unwrap();
        assert!(check_totp(&secret, &prev, now, None).unwrap().is_some());
        let old = totp_code_at(&secret, now - 90).unwrap();
        assert!(check_totp(&secret, &old, now, None).unwrap().is_none());
        // Replay of the step already used is refused.
        assert!(
            check_totp(&secret, &code, now, Some(step))
                .unwrap()
                .is_none()
        );
        // Garbage is refused, spaces are tolerated.
        assert!(check_totp(&secret, "12345a", now, None).unwrap().is_none());
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(check_totp(&secret, &spaced, now, None).unwrap().is_some());
    }

    #[test]
    fn totp_enrolment_url_names_issuer_and_account() {
        let secret = new_totp_secret();
        let e = totp_enrolment(&secret, "Example PD", "alice:x").unwrap();
        assert!(
            e.otpauth_url.starts_with("otpauth://totp/"),
            "{}",
            e.otpauth_url
        );
        assert!(e.otpauth_url.contains("alice-x"), "{}", e.otpauth_url);
        assert_eq!(e.secret_base32.len(), 32);
    }

    #[test]
    fn recovery_codes_are_distinct_and_digest_ignores_formatting() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), codes.len());
        assert_eq!(codes[0].len(), 17);
        let typed = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(
            recovery_code_digest(&typed),
            recovery_code_digest(&codes[0])
        );
        assert_ne!(
            recovery_code_digest(&codes[1]),
            recovery_code_digest(&codes[0])
        );
    }

    #[test]
    fn tokens_and_constant_time_compare() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert!(secrets_equal(&a, &a.clone()));
        assert!(!secrets_equal(&a, &random_token()));
        assert!(!secrets_equal(&a, "short"));
        assert_eq!(token_digest("abc").len(), 64);
    }
}
