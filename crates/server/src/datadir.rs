//! The data directory: `candor init` lays it out; `serve` and the other commands open it.
//!
//! ```text
//! DIR/candor.toml              configuration (safe defaults)
//! DIR/candor.db                SQLite database (unless database_url names PostgreSQL)
//! DIR/keys/master.key          master key, 0600 (wraps the window keys)
//! DIR/keys/receipt-signing.key Ed25519 seed for purge receipts, 0600
//! DIR/keys/federation-signing.key  Ed25519 seed of this instance's federation identity, 0600
//! DIR/keys/federation-signing.pub  its public key (hex), for partner agencies
//! DIR/keys/windows/*.key       one wrapped data key per time window
//! DIR/images/                  encrypted images
//! DIR/bootstrap-token.sha256   hash of the one-time administrator bootstrap token
//! ```

use std::io::Write;
use std::path::Path;

use candor_store::keys::KeyRing;
use sha2::{Digest, Sha256};

use crate::config::{CONFIG_FILE, Config};

pub const BOOTSTRAP_FILE: &str = "bootstrap-token.sha256";

/// What `init` made.
#[derive(Debug)]
pub struct InitReport {
    /// Where the models were copied from, or why recognition will be off.
    pub models: Result<std::path::PathBuf, String>,
    /// The one-time administrator bootstrap token; shown once, stored only as a hash.
    pub bootstrap_token: String,
    pub database_url: String,
    /// This instance's federation public key (hex), for partner agencies.
    pub federation_public_key: String,
}

/// The configuration file `init` writes for `config`.
pub fn initial_config_text(config: &Config) -> anyhow::Result<String> {
    Ok(format!(
        "# Candor configuration. Environment variables CANDOR_* override these values.\n{}",
        toml::to_string_pretty(config)?
    ))
}

/// Creates a data directory: config with safe defaults, keys, database, bootstrap token.
/// Refuses if `dir` already holds a Candor configuration or keys.
pub async fn init_data_dir(dir: &Path, database_url: Option<&str>) -> anyhow::Result<InitReport> {
    init_data_dir_for(dir, database_url, None).await
}

/// [`init_data_dir`] for the agency named `agency_name` (written to `candor.toml`; the first
/// policy and the transparency page carry it).
pub async fn init_data_dir_for(
    dir: &Path,
    database_url: Option<&str>,
    agency_name: Option<&str>,
) -> anyhow::Result<InitReport> {
    if dir.join(CONFIG_FILE).exists() || dir.join("keys").join("master.key").exists() {
        anyhow::bail!(
            "{} already holds a Candor data directory; refusing to overwrite its keys",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut config = Config::default();
    if let Some(url) = database_url {
        config.database_url = url.to_string();
    }
    if let Some(name) = agency_name.map(str::trim).filter(|n| !n.is_empty()) {
        config.agency_name = name.to_string();
    }
    let text = initial_config_text(&config)?;
    write_private(&dir.join(CONFIG_FILE), text.as_bytes())?;
    KeyRing::create(&dir.join("keys"))?;
    let federation_key = crate::federation::signing::instance_key(&dir.join("keys"))?;
    std::fs::create_dir_all(dir.join("images"))?;
    let models = copy_models(&dir.join(crate::config::MODELS_DIR))?;

    config.data_dir = dir.to_path_buf();
    let url = config.database_url();
    let store = candor_store::Store::open(&url).await?;
    store.close().await;

    let mut raw = [0u8; 32];
    rand::fill(&mut raw[..]);
    let token = hex::encode(raw);
    write_private(
        &dir.join(BOOTSTRAP_FILE),
        hex::encode(Sha256::digest(token.as_bytes())).as_bytes(),
    )?;
    Ok(InitReport {
        models,
        bootstrap_token: token,
        database_url: url,
        federation_public_key: crate::federation::signing::public_key_hex(&federation_key),
    })
}

/// Checks `token` against the stored bootstrap hash and, if it matches, deletes the hash so
/// the token works exactly once.
pub fn consume_bootstrap_token(dir: &Path, token: &str) -> anyhow::Result<bool> {
    let path = dir.join(BOOTSTRAP_FILE);
    let Ok(stored) = std::fs::read_to_string(&path) else {
        return Ok(false);
    };
    let given = hex::encode(Sha256::digest(token.as_bytes()));
    // Both sides are hashes of equal length; compare without early exit.
    let same = stored.trim().len() == given.len()
        && stored
            .trim()
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        std::fs::remove_file(&path)?;
    }
    Ok(same)
}

/// Copies the recognition models (manifest, ONNX files, model cards) into the data directory,
/// so that the server reads images wherever its binary is installed. The source is the folder
/// `candor_vision::default_models_dir` finds; without one, init still succeeds and says why.
fn copy_models(to: &Path) -> anyhow::Result<Result<std::path::PathBuf, String>> {
    let Some(from) = candor_vision::default_models_dir() else {
        return Ok(Err(format!(
            "no models folder found (CANDOR_MODELS, ./models or beside the binary); \
             copy the release's models/ folder to {} to turn recognition on",
            to.display()
        )));
    };
    if let Err(e) = candor_vision::Manifest::load(&from) {
        return Ok(Err(format!("{}: {e}", from.display())));
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(&from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(Ok(from))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
