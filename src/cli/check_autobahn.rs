//! `duplex check-client --autobahn -- DRIVER {url} {agent}`: the fuzzingserver's cases as a
//! CI step. It starts `duplex fuzzingserver` in-process on a free loopback port, runs the
//! client's Autobahn driver once (the driver runs every case through Autobahn's driver
//! protocol, as it would against `wstest -m fuzzingserver`), then prints one line per case
//! with its verdicts and, for a failure, the explanation; JUnit XML and JSON as for the probes.
//! Exit status: 0 when every case is OK, NON-STRICT or INFORMATIONAL (both verdicts), 1
//! otherwise or when the driver failed or hung, 2 on usage errors.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::check_client::{Ran, run_client, xml};
use super::config::CheckClientArgs;
use crate::apps::fuzzingserver::{self, CaseOutcome, FuzzingServer, Overrides};

/// How long the driver may take for all its cases unless `--timeout` says otherwise: the
/// whole set takes minutes with a fast client, over twenty with a slow Python one.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(1800);

/// The agent name given to the driver as `{agent}`.
const AGENT: &str = "client";

/// Runs the command; the exit status.
pub(crate) async fn run(args: CheckClientArgs) -> u8 {
    if args.list {
        use std::io::Write as _;
        // The list is the command's output, not a log line.
        return match fuzzingserver::catalogue_listing(true) {
            Ok(text) => u8::from(std::io::stdout().write_all(text.as_bytes()).is_err()),
            Err(err) => {
                eprintln!("duplex check-client: {err}");
                1
            }
        };
    }
    let Some((program, rest)) = args.command.split_first() else {
        eprintln!(
            "duplex check-client: give the Autobahn driver to run after --, e.g. -- ./driver {{url}} {{agent}}"
        );
        return 2;
    };
    let (outdir, temporary) = match &args.reports {
        Some(dir) => (dir.clone(), false),
        None => match scratch_dir() {
            Ok(dir) => (dir, true),
            Err(err) => {
                eprintln!("duplex check-client: cannot make a temporary directory: {err}");
                return 2;
            }
        },
    };
    let outcome = drive(&args, program, rest, outdir.clone()).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&outdir);
    }
    let (ran, outcomes) = match outcome {
        Ok(done) => done,
        Err(why) => {
            eprintln!("duplex check-client: {why}");
            return 2;
        }
    };
    for outcome in &outcomes {
        eprint!("{}", row(outcome));
    }
    let failed = outcomes.iter().filter(|o| !passed(o)).count();
    let driver_problem = driver_problem(&ran);
    if let Some(problem) = &driver_problem {
        eprintln!("check-client: the driver {problem}");
    }
    eprintln!(
        "check-client: {} cases, {} passed, {failed} failed (driver ran {:.1} s)",
        outcomes.len(),
        outcomes.len() - failed,
        ran.duration.as_secs_f64()
    );
    if let Some(path) = &args.junit
        && let Err(err) = std::fs::write(path, junit(&outcomes, &ran))
    {
        eprintln!(
            "duplex check-client: cannot write {}: {err}",
            path.display()
        );
        return 2;
    }
    if let Some(path) = &args.json
        && let Err(err) = std::fs::write(path, report_json(&args.command, &outcomes, &ran))
    {
        eprintln!(
            "duplex check-client: cannot write {}: {err}",
            path.display()
        );
        return 2;
    }
    u8::from(failed > 0 || driver_problem.is_some())
}

/// Starts the fuzzingserver, runs the driver once and collects the verdicts; `Err` for what
/// stops the run from starting (a bad pattern, no port, a driver that cannot be run).
async fn drive(
    args: &CheckClientArgs,
    program: &str,
    rest: &[String],
    outdir: PathBuf,
) -> Result<(Ran, Vec<CaseOutcome>), String> {
    let cases = if args.cases.is_empty() {
        vec!["*".to_owned()]
    } else {
        args.cases.clone()
    };
    let spec = json!({
        "url": "ws://127.0.0.1:9001",
        "cases": cases,
        "exclude-cases": args.exclude,
    });
    let overrides = Overrides {
        outdir: Some(outdir),
        ..Overrides::default()
    };
    let server = FuzzingServer::new(&spec.to_string(), overrides)
        .map(Arc::new)
        .map_err(|err| err.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|err| format!("cannot listen on loopback: {err}"))?;
    let addr = listener
        .local_addr()
        .map_err(|err| format!("cannot listen on loopback: {err}"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(fuzzingserver::serve(listener, server.clone(), async {
        let _ = stop_rx.await;
    }));
    let placeholders = [("{url}", server.url(addr)), ("{agent}", AGENT.to_owned())];
    let timeout = args.timeout.unwrap_or(DRIVER_TIMEOUT);
    let ran = run_client(program, rest, &placeholders, timeout).await;
    let _ = stop_tx.send(());
    let _ = serving.await;
    let ran = ran?;
    // A driver that ignores {agent} runs under a name of its own; if it is the only one,
    // those are its results.
    let agents = server.agents();
    let agent = match &agents[..] {
        [only] => only.as_str(),
        _ => AGENT,
    };
    if args.reports.is_some()
        && !agents.is_empty()
        && let Err(err) = server.write_reports()
    {
        eprintln!(
            "duplex check-client: cannot write the reports to {}: {err}",
            server.outdir().display()
        );
    }
    Ok((ran, server.outcomes(agent)))
}

fn scratch_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("duplex-check-autobahn-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn passed(outcome: &CaseOutcome) -> bool {
    outcome.verdicts.as_ref().is_some_and(|v| v.passed)
}

/// What went wrong with the driver itself, if anything.
fn driver_problem(ran: &Ran) -> Option<String> {
    if ran.timed_out {
        return Some(format!(
            "did not finish within {:.0} s and was stopped",
            ran.duration.as_secs_f64()
        ));
    }
    match ran.exit_code {
        Some(0) => None,
        Some(code) => Some(format!("exited with status {code}")),
        None => Some("was ended by a signal".to_owned()),
    }
}

/// The verdicts in words, or why there are none.
fn verdict_words(outcome: &CaseOutcome) -> String {
    match &outcome.verdicts {
        Some(v) => format!("{} / {}", v.behavior, v.behavior_close),
        None => "NOT RUN".to_owned(),
    }
}

/// Why a case failed, in a sentence.
fn failure_reason(outcome: &CaseOutcome) -> String {
    match &outcome.verdicts {
        Some(v) => v
            .explanation
            .clone()
            .unwrap_or_else(|| format!("{} / {}", v.behavior, v.behavior_close)),
        None => "the driver did not run this case".to_owned(),
    }
}

/// One line per case; a failure gets its explanation underneath.
fn row(outcome: &CaseOutcome) -> String {
    let mut out = String::new();
    let verdict = if passed(outcome) { "PASS" } else { "FAIL" };
    let ms = outcome.verdicts.as_ref().map_or(0, |v| v.duration_ms);
    let _ = writeln!(
        out,
        "{verdict}  {:<9} {:<30} {ms:>6} ms  {}",
        outcome.id,
        verdict_words(outcome),
        outcome.description
    );
    if !passed(outcome) {
        let _ = writeln!(out, "      why: {}", failure_reason(outcome));
    }
    out
}

/// JUnit XML: one test case per Autobahn case, its major group (`autobahn.1`) as the class.
fn junit(outcomes: &[CaseOutcome], ran: &Ran) -> String {
    let failures = outcomes.iter().filter(|o| !passed(o)).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"duplex check-client --autobahn\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">\n",
        outcomes.len(),
        ran.duration.as_secs_f64()
    );
    for outcome in outcomes {
        let group = outcome.id.split('.').next().unwrap_or("");
        let secs = outcome
            .verdicts
            .as_ref()
            .map_or(0.0, |v| v.duration_ms as f64 / 1000.0);
        let _ = write!(
            out,
            "  <testcase classname=\"autobahn.{}\" name=\"{}\" time=\"{secs:.3}\">",
            xml(group),
            xml(&outcome.id)
        );
        if !passed(outcome) {
            let _ = write!(
                out,
                "<failure message=\"{}\">{}\n{}</failure>",
                xml(&verdict_words(outcome)),
                xml(&outcome.description),
                xml(&failure_reason(outcome))
            );
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

fn report_json(command: &[String], outcomes: &[CaseOutcome], ran: &Ran) -> String {
    let failed = outcomes.iter().filter(|o| !passed(o)).count();
    let cases: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let v = o.verdicts.as_ref();
            json!({
                "id": o.id,
                "description": o.description,
                "verdict": if passed(o) { "pass" } else { "fail" },
                "behavior": v.map(|v| v.behavior),
                "behaviorClose": v.map(|v| v.behavior_close),
                "duration_ms": v.map(|v| v.duration_ms),
                "explanation": v.and_then(|v| v.explanation.clone()),
                "report": v.map(|v| v.reportfile.clone()),
            })
        })
        .collect();
    let report = json!({
        "driver": command,
        "driver_exit_code": ran.exit_code,
        "driver_timed_out": ran.timed_out,
        "driver_seconds": ran.duration.as_secs_f64(),
        "driver_stdout": ran.stdout.chars().take(4000).collect::<String>(),
        "driver_stderr": ran.stderr.chars().take(4000).collect::<String>(),
        "cases": cases,
        "passed": outcomes.len() - failed,
        "failed": failed,
    });
    serde_json::to_string_pretty(&report).unwrap_or_else(|_| report.to_string())
}
