//! `market-data`: Alpaca's market-data stream onto the tradebridge bus. See `market-data --help` and
//! the crate's README.

use std::process::ExitCode;

use clap::Parser;
use tradebridge_marketdata::service::{run, Args};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // colours only on a terminal: log files stay plain text
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("market-data: {reason}");
            ExitCode::FAILURE
        }
    }
}
