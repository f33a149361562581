//! `candor purge`: purge everything expired now and print the signed receipt.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Data directory made by `candor init`.
    #[arg(long)]
    data_dir: PathBuf,
    /// postgres://… if the server uses PostgreSQL and candor.toml does not say so.
    #[arg(long)]
    database_url: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = candor_server::Config::load(&args.data_dir)?;
    if let Some(url) = args.database_url {
        config.database_url = url;
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let state = candor_server::AppState::open(config).await?;
        let receipt = candor_server::purge::run_purge(&state, None).await?;
        state.store.close().await;
        println!("{}", serde_json::to_string_pretty(&receipt)?);
        Ok(())
    })
}
