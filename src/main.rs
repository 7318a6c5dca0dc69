use std::process::ExitCode;

use clap::Parser;
use duplex::config::Cli;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log_level).unwrap_or_else(|err| {
        eprintln!("duplex: invalid --log-level `{}`: {err}", cli.log_level);
        std::process::exit(2);
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    duplex::tls::install_crypto_provider();

    let args = cli.into_serve();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        runtime.worker_threads(usize::from(workers));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("duplex: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = duplex::startup::shutdown_signal();
        let running = match duplex::startup::prepare(&args).await {
            Ok(running) => running,
            Err(err) => {
                eprintln!("duplex: {err}");
                return ExitCode::FAILURE;
            }
        };
        match running.serve(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("duplex: {err}");
                ExitCode::FAILURE
            }
        }
    })
}
