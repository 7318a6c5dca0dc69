use std::process::ExitCode;

use clap::Parser;
use duplex::cli::config::{
    BenchArgs, CertArgs, CheckClientArgs, Cli, ClientArgs, Command, ServeArgs,
};
use duplex::cli::logging::Logging;
use duplex::cli::startup::Stopped;
use duplex::server::log::Log;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format;
    let logging = match Logging::init(cli.effective_log_level(), format) {
        Ok(logging) => logging,
        Err(err) => {
            eprintln!("duplex: {err}");
            return ExitCode::from(2);
        }
    };
    duplex::transport::tls::install_crypto_provider();

    // `logging` lives until the command returns: dropping it flushes the last lines.
    match cli.into_command() {
        Command::Serve(args) => {
            let log = Log::new(args.log_options(format, logging.colour()), logging.sink());
            serve(&args, log)
        }
        Command::Cert(args) => cert(&args),
        Command::Client(args) => client(args),
        Command::Bench(args) => bench(args),
        Command::CheckClient(args) => check_client(args),
        Command::Fuzzingserver(args) => fuzzingserver(args),
    }
}

/// A multi-threaded runtime with `workers` threads (one per core when `None`).
fn multi_thread_runtime(workers: Option<u16>) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        runtime.worker_threads(usize::from(workers));
    }
    runtime.enable_all().build().map_err(|err| {
        eprintln!("duplex: cannot start the async runtime: {err}");
        ExitCode::FAILURE
    })
}

fn serve(args: &ServeArgs, log: Log) -> ExitCode {
    let runtime = match multi_thread_runtime(args.workers) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let (code, forced) = runtime.block_on(async {
        let signals = duplex::cli::startup::shutdown_signals();
        let running = match duplex::cli::startup::prepare(args, log).await {
            Ok(running) => running,
            Err(err) => {
                eprintln!("duplex: {err}");
                return (ExitCode::FAILURE, false);
            }
        };
        let stopped = running
            .serve_until(signals.stop.cancelled(), signals.force.cancelled())
            .await;
        match stopped {
            Ok(Stopped::Gracefully) => (ExitCode::SUCCESS, false),
            Ok(Stopped::Forced) => (ExitCode::from(EXIT_FORCED), true),
            Err(err) => {
                eprintln!("duplex: {err}");
                (ExitCode::FAILURE, false)
            }
        }
    });
    if forced {
        // Connections still open are cut, not waited for.
        runtime.shutdown_background();
    }
    code
}

/// Exit status after a second Ctrl+C or SIGTERM cut the graceful stop short (128 + SIGINT,
/// as shells report an interrupted program).
const EXIT_FORCED: u8 = 130;

fn cert(args: &CertArgs) -> ExitCode {
    match duplex::transport::tls::cert_command(&args.to_request()) {
        Ok(report) => {
            use std::io::Write;
            // The report is the command's output, not a log line.
            match std::io::stdout().write_all(report.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(err) => {
            eprintln!("duplex cert: {err}");
            ExitCode::FAILURE
        }
    }
}

fn client(args: ClientArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("duplex client: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let status = runtime.block_on(duplex::cli::client::run(args));
    // A pending read of stdin (echo, interrupted) must not keep the process alive.
    runtime.shutdown_background();
    ExitCode::from(status)
}

fn check_client(args: CheckClientArgs) -> ExitCode {
    let runtime = match multi_thread_runtime(Some(2)) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let status = runtime.block_on(duplex::cli::check_client::run(args));
    // A client still running (killed on drop) must not hold the process.
    runtime.shutdown_background();
    ExitCode::from(status)
}

fn bench(args: BenchArgs) -> ExitCode {
    let runtime = match multi_thread_runtime(args.threads) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    ExitCode::from(runtime.block_on(duplex::cli::client::run_bench(args)))
}

fn fuzzingserver(args: duplex::cli::fuzzingserver::FuzzingserverArgs) -> ExitCode {
    match multi_thread_runtime(None) {
        Ok(runtime) => runtime.block_on(duplex::cli::fuzzingserver::run(args)),
        Err(code) => code,
    }
}
