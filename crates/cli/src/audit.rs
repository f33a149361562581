//! `candor audit`: verify the hash chain (also against a checkpoint published earlier,
//! read from a file or a URL), export it as JSON lines, sign a checkpoint, prune under
//! retention.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use candor_audit::{Checkpoint, TamperFinding, TamperKind, VerifyReport, VerifyingKey};

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
        /// Also check the chain against a checkpoint published earlier: a file or an
        /// http(s) URL holding its text, the transparency page or its JSON. Fails when the
        /// chain no longer reaches that checkpoint or holds another record at its length,
        /// which catches records deleted since even when their stored checkpoints went too.
        #[arg(long, value_name = "SOURCE")]
        against: Option<String>,
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

fn read_text(path: &Path) -> anyhow::Result<String> {
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

/// Most bytes read from a SOURCE: a whole transparency page fits many times over.
const SOURCE_LIMIT: usize = 4 << 20;

/// How long fetching a SOURCE may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the checkpoint a SOURCE holds (a file path or an http(s) URL); its signature is
/// checked by the caller, with the key in use.
async fn read_published(source: &str) -> anyhow::Result<Checkpoint> {
    let body = if source.starts_with("http://") || source.starts_with("https://") {
        fetch(source).await?
    } else {
        read_text(Path::new(source))?
    };
    let text = published_text(&body).ok_or_else(|| {
        anyhow::anyhow!(
            "{source} holds no audit checkpoint: expected its text (from the line {:?} on), \
             the transparency page, or the page's JSON",
            Checkpoint::HEADER
        )
    })?;
    Checkpoint::from_text(&text)
        .map_err(|e| anyhow::anyhow!("{source} holds no readable audit checkpoint: {e}"))
}

/// The checkpoint text in what a SOURCE holds: the text itself, the transparency page
/// (the text is shown as published, from its first line on) or the page's JSON
/// (`audit.checkpoint.text`).
fn published_text(body: &str) -> Option<String> {
    let body = candor_store::input::text_without_bom(body);
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        return ["/audit/checkpoint/text", "/checkpoint/text", "/text"]
            .into_iter()
            .find_map(|path| json.pointer(path)?.as_str().map(str::to_owned));
    }
    body.find(Checkpoint::HEADER)
        .map(|at| body[at..].to_owned())
}

/// GETs `url` as text, at most [`SOURCE_LIMIT`] bytes.
async fn fetch(url: &str) -> anyhow::Result<String> {
    let client = candor_server::http_client::outbound(None, FETCH_TIMEOUT)?;
    let fail = |e: reqwest::Error| anyhow::anyhow!("cannot fetch {url}: {e}");
    let mut response = client.get(url).send().await.map_err(fail)?;
    if !response.status().is_success() {
        anyhow::bail!("{url} answered {}", response.status());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        body.extend_from_slice(&chunk);
        if body.len() > SOURCE_LIMIT {
            anyhow::bail!(
                "{url} sent more than {} MiB, more than any published checkpoint",
                SOURCE_LIMIT >> 20
            );
        }
    }
    String::from_utf8(body).map_err(|_| anyhow::anyhow!("{url} did not send text"))
}

/// When a checkpoint was signed, as its text says it.
fn signed_at(checkpoint: &Checkpoint) -> String {
    checkpoint
        .time
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The line that says the chain holds a published checkpoint.
fn held(published: &Checkpoint, report: &VerifyReport) -> String {
    let signed = signed_at(published);
    match published.length {
        0 => format!("the checkpoint signed {signed} vouches for no records: nothing to compare"),
        n if n < report.first_seq => format!(
            "the checkpoint signed {signed} ({n} records) predates the pruning anchor at record \
             {}: only its signature could be checked",
            report.first_seq
        ),
        n if n == report.first_seq && report.anchored => format!(
            "the chain holds the checkpoint signed {signed}: it ends where the pruning anchor \
             starts, with the hash the first kept record links to"
        ),
        n => format!(
            "the chain holds the checkpoint signed {signed}: record {} has its head hash {}, \
             and {} record(s) were added since",
            n - 1,
            published.head_hash,
            report.length - n
        ),
    }
}

/// Records that a published checkpoint vouches for and the chain no longer reaches.
struct Missing<'a> {
    published: &'a Checkpoint,
    /// Where the chain now ends: its length.
    chain_length: u64,
}

impl<'a> Missing<'a> {
    /// The published checkpoint's part in `finding`: the chain ended before its length.
    fn from_finding(published: &'a Checkpoint, finding: &TamperFinding) -> Option<Missing<'a>> {
        match (&finding.kind, finding.seq) {
            (TamperKind::TruncatedTail { .. }, Some(end)) if end < published.length => {
                Some(Missing {
                    published,
                    chain_length: end,
                })
            }
            _ => None,
        }
    }
}

impl fmt::Display for Missing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, end) = (self.published.length, self.chain_length);
        write!(
            f,
            "the checkpoint signed {} vouches for {n} records (sequence 0 to {}), ",
            signed_at(self.published),
            n - 1
        )?;
        match end {
            0 => write!(f, "but the chain now holds none: ")?,
            _ => write!(f, "but the chain now ends at record {}: ", end - 1)?,
        }
        match n - end {
            1 => write!(f, "record {end} is missing")?,
            _ => write!(f, "records {end} to {} are missing", n - 1)?,
        }
        write!(f, ", deleted since that checkpoint was signed")
    }
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
            AuditCommand::Verify { target, public_key, against } => {
                let published = match &against {
                    Some(source) => Some(read_published(source).await?),
                    None => None,
                };
                let state = open(&target).await?;
                let key = match public_key {
                    Some(k) => parse_public_key(&k)?,
                    None => candor_server::routes::audit::audit_signing_key(&state.config.key_dir())?.verifying_key(),
                };
                if let (Some(published), Some(source)) = (&published, &against) {
                    published.verify(&key).map_err(|e| {
                        anyhow::anyhow!(
                            "the checkpoint from {source} does NOT verify with key {}: {e}",
                            candor_audit::key_id(&key)
                        )
                    })?;
                }
                let started = std::time::Instant::now();
                let verdict = state.store.verify_audit_against(&key, published.as_ref()).await?;
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
                        if let Some(published) = &published {
                            println!("{}", held(published, &r));
                        }
                        Ok(())
                    }
                    Err(finding) => match published.as_ref().and_then(|p| Missing::from_finding(p, &finding)) {
                        Some(missing) => anyhow::bail!("audit chain TRUNCATED: {missing}"),
                        None => anyhow::bail!("audit chain TAMPERED: {finding}"),
                    },
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An auditor saves a partner's witnessed checkpoint (the server's answer) as a file and
    /// passes it to `--against`: the checkpoint text is found in it.
    #[test]
    fn a_witnessed_checkpoint_answer_is_a_source() {
        let key = candor_audit::SigningKey::from_bytes(&[5; 32]);
        let checkpoint = Checkpoint::sign(
            40,
            candor_audit::ChainHash([9; 32]),
            chrono::Utc::now(),
            &key,
        );
        let answer = candor_server::federation::witness::WitnessedView {
            agreement_id: "agr-1".into(),
            partner_agency: "Northtown PD".into(),
            public_key: hex::encode(key.verifying_key().to_bytes()),
            length: checkpoint.length,
            head_hash: checkpoint.head_hash.to_string(),
            signed_at: checkpoint.time.timestamp_millis(),
            witnessed_at: checkpoint.time.timestamp_millis(),
            text: checkpoint.to_text(),
        };
        let saved = serde_json::to_string_pretty(&answer).unwrap();
        let text = published_text(&saved).expect("the answer holds the checkpoint");
        assert_eq!(Checkpoint::from_text(&text).unwrap(), checkpoint);
    }
}
