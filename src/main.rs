//! `commonscloud`: parse the command line, run the library, turn the result into an exit code.

use clap::Parser;

fn main() {
    let cli = commonscloud::cli::Cli::parse();
    // One TLS crypto provider for the whole process (ring), chosen here rather than left to
    // rustls, which cannot choose when a dependency compiles in a second one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Library warnings (a temporary folder left behind, …) go to stderr; RUST_LOG=debug for more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(commonscloud::cli::exit::FAILED);
        }
    };
    let code = runtime.block_on(commonscloud::cli::run(cli));
    std::process::exit(code);
}
