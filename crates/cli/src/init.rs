//! `candor init`: create a data directory.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to create (database, keys, candor.toml).
    #[arg(long)]
    data_dir: PathBuf,
    /// Use PostgreSQL instead of the embedded SQLite database.
    #[arg(long)]
    database_url: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(candor_server::datadir::init_data_dir(
        &args.data_dir,
        args.database_url.as_deref(),
    ))?;
    println!("Created Candor data directory {}", args.data_dir.display());
    println!("Database: {}", redact_url(&report.database_url));
    match &report.models {
        Ok(from) => println!("Recognition models: copied from {}", from.display()),
        Err(why) => println!("RECOGNITION WILL BE OFF: {why}"),
    }
    println!(
        "Federation public key (give it to partner agencies): {}",
        report.federation_public_key
    );
    println!();
    println!("One-time administrator bootstrap token (shown only now; store it safely):");
    println!("  {}", report.bootstrap_token);
    Ok(())
}

/// Hides a password in a database url.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_password() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            super::redact_url("sqlite:///x/candor.db"),
            "sqlite:///x/candor.db"
        );
    }
}
