//! `candor user`: account tasks that need no signed-in session: creating the first
//! administrator from the bootstrap token of `candor init`, listing accounts, lifting a
//! lockout.

use std::io::BufRead;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Create the first administrator with the one-time bootstrap token from `candor init`.
    /// The token and password are read from CANDOR_BOOTSTRAP_TOKEN and CANDOR_ADMIN_PASSWORD
    /// when set, else from standard input (one line each), never from the command line.
    Bootstrap {
        #[arg(long)]
        data_dir: PathBuf,
        /// The administrator's username (lower-case letters, digits, '.', '_', '-').
        #[arg(long)]
        username: String,
        /// Full name shown in the console and audit reports.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List accounts: username, role, MFA enrolled, disabled, the addresses it is locked from.
    List {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Lift an account's lockouts after failed sign-ins, from every address (audited as the
    /// system).
    Unlock {
        #[arg(long)]
        data_dir: PathBuf,
        username: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        match args.command {
            UserCommand::Bootstrap { data_dir, username, display_name } => {
                let state = open(&data_dir).await?;
                let mut stdin = std::io::stdin().lock();
                let token = secret_input("CANDOR_BOOTSTRAP_TOKEN", "bootstrap token", &mut stdin)?;
                let password = secret_input("CANDOR_ADMIN_PASSWORD", "password", &mut stdin)?;
                let display_name = display_name.unwrap_or_else(|| username.clone());
                let user = candor_server::auth::bootstrap_administrator(&state, &token, &username, &display_name, &password)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                println!(
                    "Created administrator {:?} (id {}). Sign in at /login: you will set up an authenticator app first.",
                    user.username, user.id
                );
                state.store.close().await;
                Ok(())
            }
            UserCommand::List { data_dir } => {
                let state = open(&data_dir).await?;
                let locks = state.store.sign_in_locks(None, candor_store::now_ms()).await?;
                println!("{:<24} {:<16} {:<4} {:<9} LOCKED FROM", "USERNAME", "ROLE", "MFA", "DISABLED");
                for u in state.store.list_users().await? {
                    // Locks are per source address: the account signs in from any other.
                    let from: Vec<&str> =
                        locks.iter().filter(|l| l.user_id == u.id).map(|l| l.source.as_str()).collect();
                    println!(
                        "{:<24} {:<16} {:<4} {:<9} {}",
                        u.username,
                        u.role,
                        if u.totp_enabled { "yes" } else { "no" },
                        if u.disabled { "yes" } else { "no" },
                        if from.is_empty() { "-".to_string() } else { from.join(" ") }
                    );
                }
                state.store.close().await;
                Ok(())
            }
            UserCommand::Unlock { data_dir, username } => {
                let state = open(&data_dir).await?;
                let user = state
                    .store
                    .user_by_username(&username)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no account named {username:?}"))?;
                candor_server::auth::unlock_by_system(&state, &user)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                println!("Unlocked {username:?} from every address.");
                state.store.close().await;
                Ok(())
            }
        }
    })
}

async fn open(data_dir: &std::path::Path) -> anyhow::Result<candor_server::AppState> {
    let config = candor_server::Config::load(data_dir)?;
    candor_server::AppState::open(config).await
}

/// A secret from the environment variable `var`, else one line of standard input.
fn secret_input(var: &str, what: &str, stdin: &mut impl BufRead) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        return Ok(v);
    }
    eprintln!("Enter the {what} ({var} is not set):");
    let mut line = String::new();
    stdin.read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        anyhow::bail!("no {what} given: set {var} or type it on standard input");
    }
    Ok(line)
}
