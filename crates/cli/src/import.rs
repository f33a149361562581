//! `candor import`: import a hot-list file (NCIC extract or CSV) as one transaction.

use std::path::PathBuf;

use candor_store::hotlists::{HotListSpec, ImportFormat, ListSource};

#[derive(clap::Args)]
pub struct Args {
    /// Data directory made by `candor init`.
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    database_url: Option<String>,
    /// List name; importing under an existing name replaces that list atomically.
    #[arg(long)]
    name: String,
    /// ncic, state, amber or user.
    #[arg(long, default_value = "ncic")]
    source: String,
    /// ncic (fixed-width extract) or csv.
    #[arg(long, default_value = "ncic")]
    format: String,
    /// Hit type (NCIC list code) for CSV entries; NCIC lines carry their own.
    #[arg(long)]
    hit_type: Option<String>,
    /// 1 (highest) to 9.
    #[arg(long, default_value_t = 5)]
    priority: i64,
    /// How long hits on this list are kept, seconds (policy default if absent).
    #[arg(long)]
    hit_retention_secs: Option<i64>,
    /// The file to import.
    file: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = candor_server::Config::load(&args.data_dir)?;
    if let Some(url) = args.database_url {
        config.database_url = url;
    }
    let format = ImportFormat::parse(&args.format)?;
    let spec = HotListSpec {
        name: args.name.clone(),
        source: ListSource::parse(&args.source)?,
        hit_type: args.hit_type.clone().unwrap_or_else(|| "V".into()),
        priority: args.priority,
        hit_retention_secs: args.hit_retention_secs,
    };
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let rt = tokio::runtime::Runtime::new()?;
    let (list, report) = rt.block_on(async {
        let state = candor_server::AppState::open(config).await?;
        let result = state.store.import_hot_list(&spec, format, &text, &state.config.matching.excluded_hit_types).await;
        if let Ok((list, report)) = &result {
            candor_server::audit::record(
                &state,
                candor_server::audit::OpsEvent::system(
                    "hotlist.import",
                    format!("hotlist:{}", spec.name),
                    serde_json::json!({ "format": args.format, "accepted": report.accepted, "excluded": report.excluded,
                        "errors": report.error_count, "rejected": report.rejected, "version": list.as_ref().map(|l| l.version), "via": "cli" }),
                ),
            )
            .await?;
        }
        state.store.close().await;
        Ok::<_, anyhow::Error>(result?)
    })?;
    for e in &report.errors {
        eprintln!("line {}: {}", e.line, e.message);
    }
    if report.error_count > report.errors.len() {
        eprintln!(
            "…and {} more bad lines (the first {} are listed)",
            report.error_count - report.errors.len(),
            report.errors.len()
        );
    }
    match list {
        Some(list) => {
            println!(
                "Imported {} entries into {:?} (version {}); {} excluded by agency policy.",
                report.accepted, list.name, list.version, report.excluded
            );
            Ok(())
        }
        None => anyhow::bail!(
            "{} line(s) are invalid: nothing was imported and the current list is unchanged",
            report.error_count
        ),
    }
}
