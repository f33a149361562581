//! Ed25519 key files in the data directory's `keys/` folder: the seed (owner-only) and its
//! public half (hex, readable), created once and never overwritten.

use std::path::Path;

use ed25519_dalek::SigningKey;

/// Loads the key whose seed is `key_dir/secret_file`, creating it and `key_dir/public_file`
/// on first use.
pub fn ed25519_key(
    key_dir: &Path,
    secret_file: &str,
    public_file: &str,
) -> anyhow::Result<SigningKey> {
    let path = key_dir.join(secret_file);
    if let Ok(bytes) = std::fs::read(&path) {
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("{}: not a 32-byte Ed25519 seed", path.display()))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    std::fs::create_dir_all(key_dir)?;
    let seed: [u8; 32] = crate::auth::credentials::random_bytes(32)
        .try_into()
        .map_err(|_| anyhow::anyhow!("random source failed"))?;
    let key = SigningKey::from_bytes(&seed);
    write_new_file(&path, &seed, 0o600)?;
    write_new_file(
        &key_dir.join(public_file),
        format!("{}\n", hex::encode(key.verifying_key().to_bytes())).as_bytes(),
        0o644,
    )?;
    Ok(key)
}

/// Writes a file that must not exist yet (a key is never silently replaced), durably.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
