//! `candor serve`: run the server on one port.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Data directory made by `candor init`.
    #[arg(long)]
    data_dir: PathBuf,
    /// Address and port, e.g. 0.0.0.0:8080 (port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// postgres://… to use PostgreSQL instead of the data directory's SQLite database.
    #[arg(long)]
    database_url: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut config = candor_server::Config::load(&args.data_dir)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(url) = args.database_url {
        config.database_url = url;
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        let state = candor_server::AppState::open(config).await?;
        // Say at start-up whether images can be read, so that a missing models folder is
        // found by whoever starts the server, not by the first camera upload.
        match state.engine().await {
            Ok(_) => tracing::info!(
                models = %state.config.models_path().unwrap_or_default().display(),
                "recognition on"
            ),
            Err(why) => {
                tracing::error!("RECOGNITION IS OFF, image uploads will be refused with 503: {why}")
            }
        }
        // Machine-readable first line: tests and supervisors read the bound address here.
        println!("listening on {addr}");
        candor_server::serve(state, listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    })
}
