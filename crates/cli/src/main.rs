//! The `candor` command.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "candor", version, about = "Licence-plate recognition with accountability built in")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
