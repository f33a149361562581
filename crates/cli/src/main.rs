//! The `candor` command.
use clap::{Parser, Subcommand};

mod bench;
mod eval;
mod read;

#[derive(Parser)]
#[command(
    name = "candor",
    version,
    about = "Licence-plate recognition with accountability built in"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read plates in images or folders of images
    Read(read::ReadArgs),
    /// Score the engine on a labelled dataset
    Eval(eval::EvalArgs),
    /// Measure throughput and latency on a folder of images
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Read(args) => read::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
