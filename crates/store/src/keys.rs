//! Encryption at rest: a master key and one data key per time window.
//!
//! Layout under the key directory (outside the database, so a copy of the database holds no
//! key):
//!
//! - `master.key`: 32 random bytes, mode 0600, created by `candor init`.
//! - `receipt-signing.key`: the Ed25519 seed that signs purge receipts, mode 0600.
//! - `windows/<window>.key`: the window's data key (AES-256-GCM) and blind-index key
//!   (HMAC-SHA256), 64 bytes, wrapped with AES-256-GCM under the master key.
//!
//! A window is a span of *expiry* time (default one UTC day): every record expiring in that
//! span is sealed with that window's key. When the span has passed and its records are
//! purged, the key file is overwritten and deleted, so nothing sealed under it (in the live
//! database or any backup of it) can be read again.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use candor_platetext::grams::{GRAM_COUNT, plate_grams};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::StoreError;

const NONCE_LEN: usize = 12;
/// Ed25519 seed that signs purge receipts.
const RECEIPT_KEY_FILE: &str = "receipt-signing.key";
/// Bits each plate gram sets in a plate filter. A plate has 6–9 grams, so about a third of
/// a filter's 64 bits are set; an inner run of three characters (two grams) then passes
/// about 1 in 1,100 non-matching plates, against 1 in 84 with the first signature's one bit
/// per gram (simulated over 200,000 random plates of 5–8 characters).
pub const FILTER_BITS_PER_GRAM: usize = 4;
/// Default window length: one day.
pub const DEFAULT_WINDOW_MS: i64 = 86_400_000;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}

/// Seals `plaintext` with AES-256-GCM under `cipher`: output is nonce || ciphertext+tag.
fn seal_with(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
    let nonce_bytes: [u8; NONCE_LEN] = random_bytes();
    let nonce =
        Nonce::try_from(&nonce_bytes[..]).map_err(|_| StoreError::Crypto("nonce length".into()))?;
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(StoreError::Crypto("sealed value too short".into()));
    }
    let nonce = Nonce::try_from(&sealed[..NONCE_LEN])
        .map_err(|_| StoreError::Crypto("nonce length".into()))?;
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed[NONCE_LEN..],
                aad,
            },
        )
        .map_err(|_| {
            StoreError::Crypto("authentication failed (wrong key or tampered data)".into())
        })
}

/// The keys of one window, unwrapped in memory.
pub struct WindowKeys {
    pub window: i64,
    cipher: Aes256Gcm,
    index_key: [u8; 32],
    /// Signature bit of each plate gram, derived from the index key on first use.
    gram_bits: std::sync::OnceLock<Box<[u8]>>,
    /// Filter bits of each plate gram, derived from the index key on first use.
    gram_filter_bits: std::sync::OnceLock<Box<[u64]>>,
}

impl std::fmt::Debug for WindowKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowKeys")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl WindowKeys {
    fn from_material(window: i64, material: &[u8]) -> Result<WindowKeys, StoreError> {
        if material.len() != 64 {
            return Err(StoreError::Keys(format!(
                "window {window} key has the wrong length"
            )));
        }
        let cipher = Aes256Gcm::new_from_slice(&material[..32])
            .map_err(|_| StoreError::Keys("bad data key length".into()))?;
        let mut index_key = [0u8; 32];
        index_key.copy_from_slice(&material[32..]);
        Ok(WindowKeys {
            window,
            cipher,
            index_key,
            gram_bits: std::sync::OnceLock::new(),
            gram_filter_bits: std::sync::OnceLock::new(),
        })
    }

    /// Encrypts `plaintext`, binding it to `aad` (e.g. the record kind).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        seal_with(&self.cipher, aad, plaintext)
    }

    /// Decrypts a value sealed by [`WindowKeys::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        open_with(&self.cipher, aad, sealed)
    }

    /// Blind index of a normalised plate: HMAC-SHA256 under the window's index key, so exact
    /// lookups work without storing the plate in clear, and die with the window.
    pub fn blind_index(&self, normalized_plate: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .expect("HMAC accepts any key length");
        mac.update(normalized_plate.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Which of 64 bits each plate gram sets: a keyed mapping, so a signature says nothing
    /// about the plate without this window's key, and dies with it.
    fn gram_bits(&self) -> &[u8] {
        self.gram_bits.get_or_init(|| {
            (0..GRAM_COUNT)
                .map(|g| {
                    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
                        .expect("HMAC accepts any key length");
                    mac.update(b"plate-gram:");
                    mac.update(&(g as u16).to_be_bytes());
                    mac.finalize().into_bytes()[0] % 64
                })
                .collect()
        })
    }

    /// The first signature of a normalised plate (one bit per gram,
    /// [`candor_platetext::grams`]), kept in `plate_sig` by reads stored before the
    /// [`WindowKeys::plate_filter`]: searches still use it for them. A pattern's
    /// [`WindowKeys::pattern_mask`] bits are all set in the signature of every plate that
    /// matches it.
    pub fn plate_signature(&self, normalized_plate: &str) -> i64 {
        let bits = self.gram_bits();
        plate_grams(normalized_plate.as_bytes())
            .fold(0u64, |sig, g| sig | 1 << bits[usize::from(g)]) as i64
    }

    /// The bits a plate's first signature must have to match a pattern with these required
    /// grams.
    pub fn pattern_mask(&self, required_grams: &[u16]) -> i64 {
        let bits = self.gram_bits();
        required_grams
            .iter()
            .fold(0u64, |m, &g| m | 1 << bits[usize::from(g)]) as i64
    }

    /// The [`FILTER_BITS_PER_GRAM`] bits each plate gram sets in a plate filter: keyed, like
    /// [`WindowKeys::gram_bits`], and derived on first use.
    fn gram_filter_bits(&self) -> &[u64] {
        self.gram_filter_bits.get_or_init(|| {
            (0..GRAM_COUNT)
                .map(|g| {
                    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
                        .expect("HMAC accepts any key length");
                    mac.update(b"plate-gram-filter:");
                    mac.update(&(g as u16).to_be_bytes());
                    // The first distinct bits the MAC's bytes name (32 bytes name at least
                    // 4 distinct bits of 64 but with negligible chance).
                    let mut bits = 0u64;
                    for b in mac.finalize().into_bytes() {
                        if bits.count_ones() as usize == FILTER_BITS_PER_GRAM {
                            break;
                        }
                        bits |= 1 << (b % 64);
                    }
                    bits
                })
                .collect()
        })
    }

    /// Filter of a normalised plate for wildcard search (`plate_filter`): a keyed 64-bit
    /// Bloom filter of its grams. A pattern's [`WindowKeys::pattern_filter`] bits are all set
    /// in the filter of every plate that matches it, and, with several bits per gram, in the
    /// filters of far fewer plates that do not than the first signature's.
    pub fn plate_filter(&self, normalized_plate: &str) -> i64 {
        let bits = self.gram_filter_bits();
        plate_grams(normalized_plate.as_bytes())
            .fold(0u64, |filter, g| filter | bits[usize::from(g)]) as i64
    }

    /// The bits a plate's filter must have to match a pattern with these required grams.
    pub fn pattern_filter(&self, required_grams: &[u16]) -> i64 {
        let bits = self.gram_filter_bits();
        required_grams
            .iter()
            .fold(0u64, |m, &g| m | bits[usize::from(g)]) as i64
    }
}

/// The master key and the window keys on disk.
pub struct KeyRing {
    dir: PathBuf,
    master: Aes256Gcm,
    /// Seals small long-lived secrets (TOTP seeds) in the database; derived from the master
    /// key, so a copy of the database alone opens nothing.
    secrets: Aes256Gcm,
    /// Keys the fingerprints of searched plates (review flags), derived from the master key.
    query_key: [u8; 32],
    window_ms: i64,
    cache: Mutex<HashMap<i64, Arc<WindowKeys>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("dir", &self.dir)
            .field("window_ms", &self.window_ms)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Creates the key directory and a new master key (mode 0600). Fails if one exists, so an
    /// existing master key is never overwritten.
    pub fn create(dir: &Path) -> Result<(), StoreError> {
        std::fs::create_dir_all(dir.join("windows")).map_err(io_err(dir))?;
        let path = dir.join("master.key");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(io_err(&path))?;
        file.write_all(&random_bytes::<32>())
            .map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        let path = dir.join(RECEIPT_KEY_FILE);
        let mut file = opts.open(&path).map_err(io_err(&path))?;
        file.write_all(&random_bytes::<32>())
            .map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        sync_dir(dir)?;
        Ok(())
    }

    /// The Ed25519 key that signs purge receipts.
    pub fn receipt_signer(&self) -> Result<ed25519_dalek::SigningKey, StoreError> {
        let path = self.dir.join(RECEIPT_KEY_FILE);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            StoreError::Keys(format!("{} must hold exactly 32 bytes", path.display()))
        })?;
        Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Opens the key directory; `window_ms` is the window length in milliseconds.
    pub fn open(dir: &Path, window_ms: i64) -> Result<KeyRing, StoreError> {
        if window_ms <= 0 {
            return Err(StoreError::Invalid(
                "key window length must be positive".into(),
            ));
        }
        let path = dir.join("master.key");
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let master = Aes256Gcm::new_from_slice(&bytes).map_err(|_| {
            StoreError::Keys(format!("{} must hold exactly 32 bytes", path.display()))
        })?;
        std::fs::create_dir_all(dir.join("windows")).map_err(io_err(dir))?;
        let secrets = Aes256Gcm::new_from_slice(&derive(&bytes, b"candor-secrets-v1"))
            .map_err(|_| StoreError::Keys("bad derived key length".into()))?;
        Ok(KeyRing {
            dir: dir.to_path_buf(),
            master,
            secrets,
            query_key: derive(&bytes, b"candor-query-fingerprint-v1"),
            window_ms,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Seals a long-lived secret (e.g. a TOTP seed) for storage in the database.
    pub fn seal_secret(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        seal_with(&self.secrets, aad, plaintext)
    }

    /// Opens a value sealed by [`KeyRing::seal_secret`] with the same `aad`.
    pub fn open_secret(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        open_with(&self.secrets, aad, sealed)
    }

    /// Keyed fingerprint of a search query (e.g. a plate pattern), so repeated searches
    /// for the same plate can be counted without storing the plate.
    pub fn query_fingerprint(&self, query: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.query_key)
            .expect("HMAC accepts any key length");
        mac.update(query.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    /// The window that holds records expiring at `expires_at_ms`.
    pub fn window_for(&self, expires_at_ms: i64) -> i64 {
        expires_at_ms.div_euclid(self.window_ms)
    }

    /// Start and end (exclusive) of a window under the window length configured now, Unix
    /// ms. A window made under another length knows its own span: ask the store
    /// ([`crate::Store::window_spans`]), which recorded it when the window was first used.
    pub fn window_span(&self, window: i64) -> (i64, i64) {
        (window * self.window_ms, (window + 1) * self.window_ms)
    }

    fn window_path(&self, window: i64) -> PathBuf {
        self.dir.join("windows").join(format!("{window}.key"))
    }

    fn aad(window: i64) -> Vec<u8> {
        format!("candor-window-key:{window}").into_bytes()
    }

    /// The keys of `window`, created (and written durably) if they do not exist yet.
    pub fn get_or_create(&self, window: i64) -> Result<Arc<WindowKeys>, StoreError> {
        if let Some(keys) = self.cached(window) {
            return Ok(keys);
        }
        let path = self.window_path(window);
        if !path.exists() {
            let material = random_bytes::<64>();
            let wrapped = seal_with(&self.master, &Self::aad(window), &material)?;
            // Write to a unique temporary name, then link into place: if another process
            // created the window first, the link fails and we read theirs.
            let tmp = self
                .dir
                .join("windows")
                .join(format!(".{window}.{}.tmp", uuid::Uuid::new_v4().simple()));
            {
                let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
                f.write_all(&wrapped).map_err(io_err(&tmp))?;
                f.sync_all().map_err(io_err(&tmp))?;
            }
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => sync_dir(&self.dir.join("windows"))?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        self.load(window)
    }

    /// The keys of `window` if they still exist; `Ok(None)` once destroyed.
    pub fn get(&self, window: i64) -> Result<Option<Arc<WindowKeys>>, StoreError> {
        if let Some(keys) = self.cached(window) {
            return Ok(Some(keys));
        }
        if !self.window_path(window).exists() {
            return Ok(None);
        }
        self.load(window).map(Some)
    }

    fn cached(&self, window: i64) -> Option<Arc<WindowKeys>> {
        self.cache.lock().ok().and_then(|c| c.get(&window).cloned())
    }

    fn load(&self, window: i64) -> Result<Arc<WindowKeys>, StoreError> {
        let path = self.window_path(window);
        let wrapped = std::fs::read(&path).map_err(io_err(&path))?;
        let material = open_with(&self.master, &Self::aad(window), &wrapped).map_err(|_| {
            StoreError::Keys(format!(
                "window key {} does not open under the master key",
                path.display()
            ))
        })?;
        let keys = Arc::new(WindowKeys::from_material(window, &material)?);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(window, keys.clone());
        }
        Ok(keys)
    }

    /// Windows whose key files exist, ascending.
    pub fn live_windows(&self) -> Result<Vec<i64>, StoreError> {
        let dir = self.dir.join("windows");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name
                .strip_suffix(".key")
                .and_then(|s| s.parse::<i64>().ok())
            {
                out.push(id);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Destroys the key of `window`: overwrites the file, syncs, deletes it, and forgets the
    /// cached copy. Returns false if it was already gone.
    pub fn destroy(&self, window: i64) -> Result<bool, StoreError> {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&window);
        }
        let path = self.window_path(window);
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len() as usize,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(&path)(e)),
        };
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.write_all(&vec![0u8; len]).map_err(io_err(&path))?;
            f.sync_all().map_err(io_err(&path))?;
        }
        std::fs::remove_file(&path).map_err(io_err(&path))?;
        sync_dir(&self.dir.join("windows"))?;
        Ok(true)
    }
}

/// A purpose-bound key derived from the master key bytes.
fn derive(master: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC accepts any key length");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_destroy() {
        let dir = tempfile::tempdir().unwrap();
        KeyRing::create(dir.path()).unwrap();
        assert!(
            KeyRing::create(dir.path()).is_err(),
            "an existing master key is never overwritten"
        );
        let ring = KeyRing::open(dir.path(), DEFAULT_WINDOW_MS).unwrap();
        let w = ring.window_for(1_700_000_000_000);
        let keys = ring.get_or_create(w).unwrap();
        let sealed = keys.seal(b"read", b"ABC123").unwrap();
        assert_ne!(&sealed[NONCE_LEN..], b"ABC123");
        assert_eq!(keys.open(b"read", &sealed).unwrap(), b"ABC123");
        assert!(
            keys.open(b"hit", &sealed).is_err(),
            "aad binds the record kind"
        );
        assert_eq!(keys.blind_index("ABC123"), keys.blind_index("ABC123"));
        // A pattern's mask is inside the signature of every plate it matches.
        let pattern = candor_platetext::wildcard::Pattern::parse("AB?1*").unwrap();
        let mask = keys.pattern_mask(&pattern.required_grams(None));
        assert_ne!(mask, 0);
        assert_eq!(keys.plate_signature("ABC123") & mask, mask);
        // and filters out most plates that do not match (a keyed 64-bit filter: a few pass).
        let passed = (0..100)
            .filter(|i| keys.plate_signature(&format!("XYZ{i:03}")) & mask == mask)
            .count();
        assert!(
            passed < 50,
            "{passed} of 100 non-matching plates passed the filter"
        );
        assert_ne!(keys.blind_index("ABC123"), keys.blind_index("ABC124"));

        // A fresh ring (another process) reads the same window key.
        let ring2 = KeyRing::open(dir.path(), DEFAULT_WINDOW_MS).unwrap();
        assert_eq!(
            ring2
                .get(w)
                .unwrap()
                .unwrap()
                .open(b"read", &sealed)
                .unwrap(),
            b"ABC123"
        );
        assert_eq!(ring.live_windows().unwrap(), vec![w]);

        assert!(ring.destroy(w).unwrap());
        assert!(ring.get(w).unwrap().is_none());
        assert!(ring2.destroy(w).is_ok());
        assert!(
            KeyRing::open(dir.path(), DEFAULT_WINDOW_MS)
                .unwrap()
                .get(w)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn plate_filter_keeps_every_match_and_far_fewer_others() {
        use candor_platetext::wildcard::Pattern;
        // A fixed key and fixed plates of 5–8 characters, so the counts are the same each run.
        let keys = WindowKeys::from_material(7, &[42; 64]).unwrap();
        let chars = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut random = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let plates: Vec<String> = (0..20_000)
            .map(|_| {
                let len = 5 + random(4);
                (0..len)
                    .map(|_| chars[random(33) as usize] as char)
                    .collect()
            })
            .collect();
        let (mut by_filter, mut by_signature) = (0, 0);
        for pattern in ["AB?12*", "*C1?*", "*X7K*", "7*Q"] {
            let p = Pattern::parse(pattern).unwrap();
            let required = p.required_grams(None);
            let filter = keys.pattern_filter(&required);
            let mask = keys.pattern_mask(&required);
            for g in &required {
                let bits = keys.pattern_filter(&[*g]).count_ones() as usize;
                assert_eq!(bits, FILTER_BITS_PER_GRAM, "each gram sets its own bits");
            }
            for plate in &plates {
                let passes = keys.plate_filter(plate) & filter == filter;
                if p.matches(plate) {
                    assert!(
                        passes,
                        "{plate} matches {pattern} but its filter lacks bits"
                    );
                } else {
                    by_filter += usize::from(passes);
                    by_signature += usize::from(keys.plate_signature(plate) & mask == mask);
                }
            }
        }
        assert!(
            by_filter * 3 < by_signature,
            "{by_filter} non-matching plates passed the filters, {by_signature} the first signatures"
        );
    }

    #[cfg(unix)]
    #[test]
    fn master_key_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        KeyRing::create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
