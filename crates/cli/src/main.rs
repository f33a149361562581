//! The `candor` command.
use clap::{Parser, Subcommand};

mod audit;
mod bench;
mod bench_ingest;
mod bench_search;
mod bench_stream;
mod eval;
mod eval_colour;
mod import;
mod init;
mod purge;
mod read;
mod serve;
mod user;
mod watch;

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
    /// Create a data directory: database, keys, config, one-time admin bootstrap token.
    Init(init::Args),
    /// Run the server: API, alerts, scheduled purge, on one port.
    Serve(serve::Args),
    /// Audit log: verify the chain, export JSON lines, sign a checkpoint, prune.
    Audit(audit::Args),
    /// Accounts: create the first administrator from the bootstrap token, list, unlock.
    User(user::Args),
    /// Read plates in images or folders of images
    Read(read::ReadArgs),
    /// Score the engine on a labelled dataset
    Eval(eval::EvalArgs),
    /// Score the vehicle colour named around each plate against colours labelled by eye
    EvalColour(eval_colour::Args),
    /// Measure throughput and latency on a folder of images
    Bench(bench::BenchArgs),
    /// Purge everything expired now and print the signed purge receipt.
    Purge(purge::Args),
    /// Import a hot-list file (NCIC extract or CSV) as one transaction.
    Import(import::Args),
    /// Measure sustained ingest (reads/s) with matching against a large hot list.
    BenchIngest(bench_ingest::Args),
    /// Measure exact and wildcard search latency over a large store (default 10M reads).
    BenchSearch(bench_search::Args),
    /// Measure stream reading on a generated clip: one pass per car, voted vs single-frame
    /// text, CPU per stream.
    BenchStream(bench_stream::Args),
    /// Read a camera stream (RTSP, HTTP or a file) and print one JSON line per vehicle pass.
    Watch(watch::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Serve(args) => serve::run(args),
        Command::User(args) => user::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Read(args) => read::run(args),
        Command::Eval(args) => eval::run(args),
        Command::EvalColour(args) => eval_colour::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Purge(args) => purge::run(args),
        Command::Import(args) => import::run(args),
        Command::BenchIngest(args) => bench_ingest::run(args),
        Command::BenchSearch(args) => bench_search::run(args),
        Command::BenchStream(args) => bench_stream::run(args),
        Command::Watch(args) => watch::run(args),
    }
}
