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
    /// The agency's name, as the console, the policy and the transparency page show it
    /// (asked for when not given and a terminal is attached).
    #[arg(long)]
    agency_name: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let agency_name = match args.agency_name {
        Some(name) => Some(name),
        None if std::io::stdin().is_terminal() => {
            eprint!("Agency name (as the public transparency page will show it): ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            Some(line.trim().to_string()).filter(|n| !n.is_empty())
        }
        None => None,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(candor_server::datadir::init_data_dir_for(
        &args.data_dir,
        args.database_url.as_deref(),
        agency_name.as_deref(),
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
    println!();
    if agency_name.is_none() {
        println!(
            "The agency is named \"Candor agency\" for now: set agency_name in {} before the first start.",
            args.data_dir
                .join(candor_server::config::CONFIG_FILE)
                .display()
        );
    }
    println!("Next: create the first administrator (the token and a password are asked for):");
    println!(
        "  candor user bootstrap --data-dir {} --username <name>",
        args.data_dir.display()
    );
    println!(
        "then start the server: candor serve --data-dir {} — and sign in at http://127.0.0.1:8080/",
        args.data_dir.display()
    );
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
