//! `commonscloud`: parse the command line, run the library, turn the result into an exit code.

use clap::Parser;

fn main() {
    let cli = commonscloud::cli::Cli::parse();
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
