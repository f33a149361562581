//! `candor audit`: verify the hash chain, export it as JSON lines, sign a checkpoint, prune
//! under retention.

use std::io::Write;
use std::path::PathBuf;

use candor_audit::VerifyingKey;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Args)]
struct Target {
    /// Data directory made by `candor init`.
    #[arg(long)]
    data_dir: PathBuf,
    /// postgres://… when the data directory's configuration does not name the database.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Check the whole chain, its signed checkpoints and anchor; names the first record that
    /// was modified, deleted, inserted or reordered. Exits 1 when anything is wrong.
    Verify {
        #[command(flatten)]
        target: Target,
        /// Verify with this Ed25519 public key (hex) instead of the data directory's key, as
        /// an outside auditor would with the published key.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Check a published audit checkpoint (the text on the transparency page) with the
    /// published public key; needs no data directory. Exits 1 when it does not verify.
    VerifyCheckpoint {
        /// File holding the checkpoint text, exactly as published.
        #[arg(long)]
        checkpoint: PathBuf,
        /// The published Ed25519 public key (hex).
        #[arg(long)]
        public_key: String,
    },
    /// Check a published purge receipt: a JSON file with `receipt_json`, `signature` and
    /// `public_key` (as on the transparency page). With --public-key, also checks that it
    /// was signed by that key. Exits 1 when it does not verify.
    VerifyReceipt {
        #[arg(long)]
        receipt: PathBuf,
        /// The key the receipt must be signed by (hex).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Write the records as JSON lines (to standard output, or --output).
    Export {
        #[command(flatten)]
        target: Target,
        /// First seq to export.
        #[arg(long, default_value_t = 0)]
        from_seq: u64,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Sign a checkpoint of the chain now.
    Checkpoint {
        #[command(flatten)]
        target: Target,
    },
    /// Remove records older than the retention policy's audit period (at least a year),
    /// leaving a signed anchor so the rest stays verifiable.
    Prune {
        #[command(flatten)]
        target: Target,
    },
}

async fn open(target: &Target) -> anyhow::Result<candor_server::AppState> {
    let mut config = candor_server::Config::load(&target.data_dir)?;
    if let Some(url) = &target.database_url {
        config.database_url = url.clone();
    }
    candor_server::AppState::open(config).await
}

fn parse_public_key(hex_key: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("--public-key must be 64 hex digits (an Ed25519 public key)")
        })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("--public-key is not a valid Ed25519 key: {e}"))
}

fn read_text(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map(|t| candor_store::input::text_without_bom(&t).to_string())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Verifies a published checkpoint; returns the line to print.
pub fn verify_checkpoint(text: &str, public_key: &str) -> anyhow::Result<String> {
    let key = parse_public_key(public_key)?;
    let checkpoint = candor_audit::Checkpoint::from_text(text)
        .map_err(|e| anyhow::anyhow!("not a checkpoint: {e}"))?;
    checkpoint
        .verify(&key)
        .map_err(|e| anyhow::anyhow!("checkpoint does NOT verify: {e}"))?;
    Ok(format!(
        "checkpoint verifies: {} records, head {}, signed {} by {}",
        checkpoint.length,
        checkpoint.head_hash,
        checkpoint.time.to_rfc3339(),
        checkpoint.key_id
    ))
}

/// Verifies a published purge receipt; returns the line to print.
pub fn verify_receipt(json_text: &str, public_key: Option<&str>) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct Published {
        receipt_json: String,
        signature: String,
        public_key: String,
    }
    let p: Published = serde_json::from_str(json_text).map_err(|e| {
        anyhow::anyhow!("not a published purge receipt (receipt_json, signature, public_key): {e}")
    })?;
    if let Some(expected) = public_key
        && !expected.trim().eq_ignore_ascii_case(&p.public_key)
    {
        anyhow::bail!(
            "receipt is signed by key {}, not by {}",
            p.public_key,
            expected.trim()
        );
    }
    let key = parse_public_key(&p.public_key)?;
    let sig: [u8; 64] = hex::decode(&p.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("signature must be 128 hex digits"))?;
    key.verify_strict(
        p.receipt_json.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .map_err(|_| anyhow::anyhow!("purge receipt does NOT verify: the signature does not match"))?;
    Ok(format!(
        "purge receipt verifies: signed by {}",
        p.public_key
    ))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match &args.command {
        AuditCommand::VerifyCheckpoint {
            checkpoint,
            public_key,
        } => {
            println!(
                "{}",
                verify_checkpoint(&read_text(checkpoint)?, public_key)?
            );
            return Ok(());
        }
        AuditCommand::VerifyReceipt {
            receipt,
            public_key,
        } => {
            println!(
                "{}",
                verify_receipt(&read_text(receipt)?, public_key.as_deref())?
            );
            return Ok(());
        }
        _ => {}
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        match args.command {
            AuditCommand::Verify { target, public_key } => {
                let state = open(&target).await?;
                let key = match public_key {
                    Some(k) => parse_public_key(&k)?,
                    None => candor_server::routes::audit::audit_signing_key(&state.config.key_dir())?.verifying_key(),
                };
                let started = std::time::Instant::now();
                let verdict = state.store.verify_audit(&key).await?;
                let secs = started.elapsed().as_secs_f64();
                state.store.close().await;
                match verdict {
                    Ok(r) => {
                        println!(
                            "audit chain intact: {}, head {}, {} checkpoint(s) matched{}{}; {:.2} s",
                            r.summary(),
                            r.head_hash,
                            r.checkpoints_matched,
                            if r.checkpoints_pruned > 0 { format!(", {} before the anchor", r.checkpoints_pruned) } else { String::new() },
                            if r.anchored { ", pruned up to a signed anchor" } else { "" },
                            secs
                        );
                        Ok(())
                    }
                    Err(finding) => {
                        anyhow::bail!("audit chain TAMPERED: {finding}")
                    }
                }
            }
            AuditCommand::Export { target, from_seq, output } => {
                let state = open(&target).await?;
                let mut out: Box<dyn Write> = match &output {
                    Some(path) => Box::new(std::io::BufWriter::new(
                        std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                    )),
                    None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                };
                let mut next = from_seq;
                let mut count = 0u64;
                loop {
                    let page = state.store.audit_records(next, 10_000).await?;
                    let Some(last) = page.last() else { break };
                    next = last.seq + 1;
                    for record in &page {
                        serde_json::to_writer(&mut out, record)?;
                        out.write_all(b"\n")?;
                        count += 1;
                    }
                }
                out.flush()?;
                state.store.close().await;
                eprintln!("exported {count} audit records");
                Ok(())
            }
            AuditCommand::Checkpoint { target } => {
                let state = open(&target).await?;
                let key = candor_server::routes::audit::audit_signing_key(&state.config.key_dir())?;
                let checkpoint = state.store.checkpoint_audit(&key, chrono::Utc::now()).await?;
                state.store.close().await;
                print!("{}", checkpoint.to_text());
                Ok(())
            }
            AuditCommand::VerifyCheckpoint { .. } | AuditCommand::VerifyReceipt { .. } => {
                unreachable!("answered above, without a runtime")
            }
            AuditCommand::Prune { target } => {
                let state = open(&target).await?;
                let removed = candor_server::routes::audit::prune_expired(&state)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                state.store.close().await;
                println!("pruned {removed} audit records past the retention period");
                Ok(())
            }
        }
    })
}
