//! `duplex check-client -- ./myclient {url}`: starts a server with the client probes on a free
//! loopback port, runs the user's client once per case with the case's URL (h2spec's `--exec`
//! model), judges each case from the client's exit status and output and from what the server
//! observed (its pongs and close frame), prints a table, writes JUnit XML and JSON if asked, and
//! exits 1 when a case fails.
//!
//! The contract a client follows is in [`crate::apps::probes::catalogue`].

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::config::{CheckClientArgs, Cli};
use crate::apps::probes::catalogue::{Expect, Needs, Output};
use crate::apps::probes::{CASES, Case, Group, Observation, Probes};
use crate::server::log::{Log, LogOptions, escape};
use crate::transport::tls_probes::{
    Expect as TlsExpect, TlsCase, TlsProbes, Verdict as TlsVerdict, judge_run,
};

/// Most bytes of a client's stdout or stderr kept per case.
const MAX_OUTPUT: u64 = 1 << 20;

/// How long a client's output is still read after it exited.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// How long one run of the client may take (`--timeout`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a case went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Fail,
}

/// What a result is about: a probe of the catalogue or a TLS probe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct About {
    pub(crate) id: &'static str,
    pub(crate) group: &'static str,
    pub(crate) title: &'static str,
    pub(crate) expect: &'static str,
    pub(crate) rule: &'static str,
    pub(crate) hint: &'static str,
}

impl About {
    fn of(case: &'static Case) -> Self {
        Self {
            id: case.id,
            group: case.group.name(),
            title: case.title,
            expect: case.expect.words(),
            rule: case.rule,
            hint: case.hint,
        }
    }

    fn of_tls(case: TlsCase) -> Self {
        Self {
            id: case.name(),
            group: TLS_GROUP,
            title: case.presents(),
            expect: match case.expect() {
                TlsExpect::Accept => "a correct client accepts it",
                TlsExpect::Reject => "a correct client refuses it",
            },
            rule: case.rule(),
            hint: case.hint(),
        }
    }
}

/// The TLS probes' group name for `--only`.
const TLS_GROUP: &str = "tls";

/// One case's result.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) case: About,
    pub(crate) verdict: Verdict,
    /// Why it failed, or how it passed ("refused, as it must").
    pub(crate) reason: String,
    pub(crate) exit_code: Option<i32>,
    pub(crate) timed_out: bool,
    pub(crate) duration: Duration,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) observation: Option<Observation>,
    pub(crate) server_log: Vec<String>,
}

/// What the client did, before judging.
#[derive(Debug, Default)]
pub(crate) struct Run {
    pub(crate) exit_code: Option<i32>,
    pub(crate) timed_out: bool,
    pub(crate) stdout: String,
}

/// Judges one case: the client's exit and output against the case's expectation, then what the
/// server observed.
pub(crate) fn judge(
    case: &Case,
    run: &Run,
    observation: Option<&Observation>,
) -> (Verdict, String) {
    if run.timed_out {
        return (
            Verdict::Fail,
            "the client did not finish in time (it hung)".to_owned(),
        );
    }
    let accepted = run.exit_code == Some(0);
    let printed = |output: Output| -> Result<(), String> {
        let want = output.text();
        let got = run.stdout.trim_end_matches(['\n', '\r']);
        if got == want.trim_end_matches('\n') {
            return Ok(());
        }
        let at = got
            .bytes()
            .zip(want.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| got.len().min(want.len()));
        Err(format!(
            "it printed {} bytes, expected {}; they differ from byte {at}: got \"{}\", expected \"{}\"",
            got.len(),
            want.trim_end_matches('\n').len(),
            escape(got.as_bytes().get(at..).unwrap_or_default(), 40),
            escape(want.as_bytes().get(at..).unwrap_or_default(), 40),
        ))
    };
    let first = match case.expect {
        Expect::Accept(output) if accepted => printed(output)
            .map(|()| "accepted, as it must".to_owned())
            .map_err(|why| format!("accepted but {why}")),
        Expect::Accept(_) => Err(format!(
            "refused (exit {}) what it must accept",
            exit_words(run.exit_code)
        )),
        Expect::Reject if accepted => Err("accepted (exit 0) what it must refuse".to_owned()),
        Expect::Reject => Ok(format!(
            "refused (exit {}), as it must",
            exit_words(run.exit_code)
        )),
        Expect::Either(output) if accepted => printed(output)
            .map(|()| "accepted (either is allowed)".to_owned())
            .map_err(|why| format!("accepted but {why}")),
        Expect::Either(_) => Ok(format!(
            "refused (exit {}; either is allowed)",
            exit_words(run.exit_code)
        )),
    };
    let reason = match first {
        Ok(reason) => reason,
        Err(why) => return (Verdict::Fail, why),
    };
    let needed = match (case.needs, observation) {
        (Needs::Nothing, _) => Ok(()),
        (_, None) => Err("the server saw no finished probe for this run".to_owned()),
        (Needs::Pong, Some(seen)) => {
            let last = if case.id == "ping-storm" {
                "ping-19"
            } else {
                "ping-0"
            };
            if seen.pongs.iter().any(|pong| pong == last.as_bytes()) {
                Ok(())
            } else {
                Err(format!(
                    "no pong carrying the last ping's payload \"{last}\" ({} pongs sent)",
                    seen.pongs.len()
                ))
            }
        }
        (Needs::CloseReply, Some(seen)) => match seen.client_close {
            Some(_) => Ok(()),
            None => Err(format!(
                "the server's close frame was not answered with one ({})",
                if seen.ended.is_empty() {
                    "no close frame"
                } else {
                    &seen.ended
                }
            )),
        },
    };
    match needed {
        Ok(()) => (Verdict::Pass, reason),
        Err(why) => (Verdict::Fail, format!("{reason}, but {why}")),
    }
}

fn exit_words(code: Option<i32>) -> String {
    code.map_or_else(|| "by a signal".to_owned(), |code| code.to_string())
}

/// Runs the command. Exit status: 0 all passed, 1 a case failed, 2 the run could not start.
pub async fn run(args: CheckClientArgs) -> u8 {
    if args.autobahn {
        return super::check_autobahn::run(args).await;
    }
    let timeout = args.timeout.unwrap_or(PROBE_TIMEOUT);
    if args.list {
        use std::io::Write as _;
        // The list is the command's output, not a log line.
        return match std::io::stdout().write_all(catalogue_table().as_bytes()) {
            Ok(()) => 0,
            Err(_) => 1,
        };
    }
    let (groups, tls) = match selected_groups(&args.only) {
        Ok(selected) => selected,
        Err(why) => {
            eprintln!("duplex check-client: {why}");
            return 2;
        }
    };
    let Some((program, rest)) = args.command.split_first() else {
        eprintln!(
            "duplex check-client: give the client to run after --, e.g. -- ./myclient {{url}}"
        );
        return 2;
    };
    let dirs = match tempfile_dir() {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("duplex check-client: cannot make a temporary directory: {err}");
            return 2;
        }
    };
    let mut serve_flags: Vec<String> = [
        "duplex",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--probes",
        "--no-tls",
        "--static-dir",
    ]
    .map(str::to_owned)
    .to_vec();
    serve_flags.push(dirs.join("static").display().to_string());
    if tls {
        serve_flags.extend(
            ["--tls-probes", "--tls-probes-port", "0", "--dev-cert-dir"].map(str::to_owned),
        );
        serve_flags.push(dirs.join("certs").display().to_string());
    }
    let serve_args = match Cli::try_parse_from(serve_flags) {
        Ok(cli) => cli.into_serve(),
        Err(err) => {
            eprintln!("duplex check-client: {err}");
            return 2;
        }
    };
    let (log, lines) = Log::memory(LogOptions::default());
    let running = match super::startup::prepare(&serve_args, log).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("duplex check-client: cannot start the probes: {err}");
            return 2;
        }
    };
    let (Some(addr), Some(probes)) = (running.local_addr(), running.probes.clone()) else {
        eprintln!("duplex check-client: the probe server has no TCP address");
        return 2;
    };
    let tls_probes = running.tls_probes().cloned();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(running.serve(async {
        let _ = stop_rx.await;
    }));
    let mut outcomes = Vec::new();
    for (n, case) in CASES
        .iter()
        .filter(|case| groups.contains(&case.group))
        .enumerate()
    {
        let token = format!("{}-{n}", std::process::id());
        let scheme = if case.group.is_ws() { "ws" } else { "http" };
        let url = format!("{scheme}://{addr}/probe/{}?run={token}", case.path());
        let seen_before = lines.lines().len();
        let mut outcome = run_case(case, program, rest, &url, &token, &probes, timeout).await;
        outcome.server_log = lines
            .lines()
            .split_off(seen_before.min(lines.lines().len()));
        eprint!("{}", row(&outcome));
        outcomes.push(outcome);
    }
    if let Some(tls_probes) = tls_probes.filter(|_| tls) {
        for case in TlsCase::ALL {
            let seen_before = lines.lines().len();
            let mut outcome = run_tls_case(case, program, rest, &tls_probes, timeout).await;
            outcome.server_log = lines
                .lines()
                .split_off(seen_before.min(lines.lines().len()));
            eprint!("{}", row(&outcome));
            outcomes.push(outcome);
        }
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dirs);
    let failed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Fail)
        .count();
    eprintln!(
        "check-client: {} cases, {} passed, {failed} failed",
        outcomes.len(),
        outcomes.len() - failed
    );
    if let Some(path) = &args.junit
        && let Err(err) = std::fs::write(path, junit(&outcomes))
    {
        eprintln!(
            "duplex check-client: cannot write {}: {err}",
            path.display()
        );
        return 2;
    }
    if let Some(path) = &args.json
        && let Err(err) = std::fs::write(path, report_json(&args.command, &outcomes))
    {
        eprintln!(
            "duplex check-client: cannot write {}: {err}",
            path.display()
        );
        return 2;
    }
    u8::from(failed > 0)
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("duplex-check-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The catalogue's groups selected, and whether the TLS probes are.
fn selected_groups(only: &[String]) -> Result<(Vec<Group>, bool), String> {
    if only.is_empty() {
        return Ok((Group::ALL.to_vec(), true));
    }
    let mut groups = Vec::new();
    let mut tls = false;
    for name in only {
        if name == TLS_GROUP {
            tls = true;
            continue;
        }
        let group = Group::ALL
            .into_iter()
            .find(|group| group.name() == name)
            .ok_or_else(|| {
                let mut names: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
                names.push(TLS_GROUP);
                format!("no group {name}; the groups are {}", names.join(", "))
            })?;
        groups.push(group);
    }
    Ok((groups, tls))
}

/// What one run of the client did.
pub(crate) struct Ran {
    pub(crate) exit_code: Option<i32>,
    pub(crate) timed_out: bool,
    pub(crate) duration: Duration,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the client once with `placeholders` replaced in its arguments (`{url}` appended when
/// no argument has it); `Err` when it cannot be started.
pub(crate) async fn run_client(
    program: &str,
    rest: &[String],
    placeholders: &[(&str, String)],
    timeout: Duration,
) -> Result<Ran, String> {
    let mut args: Vec<String> = rest
        .iter()
        .map(|arg| {
            placeholders
                .iter()
                .fold(arg.clone(), |arg, (name, value)| arg.replace(name, value))
        })
        .collect();
    if !rest.iter().any(|arg| arg.contains("{url}"))
        && let Some((_, url)) = placeholders.iter().find(|(name, _)| *name == "{url}")
    {
        args.push(url.clone());
    }
    let started = Instant::now();
    let spawned = tokio::process::Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = spawned.map_err(|err| format!("cannot run {program}: {err}"))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_stdout = tokio::spawn(read_bounded(stdout));
    let read_stderr = tokio::spawn(read_bounded(stderr));
    let (exit_code, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(_)) => (None, false),
        Err(_) => {
            let _ = child.kill().await;
            (None, true)
        }
    };
    let duration = started.elapsed();
    // A grandchild (a shell's `sleep`, a driver's workers) can hold the pipes open after the
    // client is gone: read what is there, but not wait for it.
    let drain = |task: tokio::task::JoinHandle<String>| async move {
        match tokio::time::timeout(OUTPUT_GRACE, task).await {
            Ok(Ok(text)) => text,
            _ => String::new(),
        }
    };
    Ok(Ran {
        exit_code,
        timed_out,
        duration,
        stdout: drain(read_stdout).await,
        stderr: drain(read_stderr).await,
    })
}

/// A result for a client that could not be run.
fn not_run(case: About, why: String) -> Outcome {
    Outcome {
        case,
        verdict: Verdict::Fail,
        reason: why,
        exit_code: None,
        timed_out: false,
        duration: Duration::ZERO,
        stdout: String::new(),
        stderr: String::new(),
        observation: None,
        server_log: Vec::new(),
    }
}

async fn run_case(
    case: &'static Case,
    program: &str,
    rest: &[String],
    url: &str,
    token: &str,
    probes: &Arc<Probes>,
    timeout: Duration,
) -> Outcome {
    let ran = match run_client(program, rest, &[("{url}", url.to_owned())], timeout).await {
        Ok(ran) => ran,
        Err(why) => return not_run(About::of(case), why),
    };
    let Ran {
        exit_code,
        timed_out,
        duration,
        stdout,
        stderr,
    } = ran;
    // The probe files its observation when it is done with the connection, which can be a
    // moment after the client exits.
    let mut observation = probes.observations.take(token);
    let deadline = Instant::now() + Duration::from_secs(6);
    while observation.is_none() && case.needs != Needs::Nothing && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        observation = probes.observations.take(token);
    }
    let run = Run {
        exit_code,
        timed_out,
        stdout: stdout.clone(),
    };
    let (verdict, reason) = judge(case, &run, observation.as_ref());
    Outcome {
        case: About::of(case),
        verdict,
        reason,
        exit_code,
        timed_out,
        duration,
        stdout,
        stderr,
        observation,
        server_log: Vec::new(),
    }
}

/// One TLS probe: the client on the case's port (with `{cacert}`, and `{client_cert}` and
/// `{client_key}` on `client-cert`), judged from its exit status and the server's verdict on the
/// handshake.
async fn run_tls_case(
    case: TlsCase,
    program: &str,
    rest: &[String],
    probes: &TlsProbes,
    timeout: Duration,
) -> Outcome {
    let Some(placeholders) = probes.placeholders(case) else {
        return not_run(About::of_tls(case), "the probe has no port".to_owned());
    };
    let since = probes.observations.next_seq();
    let ran = match run_client(program, rest, &placeholders, timeout).await {
        Ok(ran) => ran,
        Err(why) => return not_run(About::of_tls(case), why),
    };
    let observed = probes
        .observations
        .wait_for(case, since, Duration::from_secs(3))
        .await;
    let (verdict, reason) = if ran.timed_out {
        (
            Verdict::Fail,
            "the client did not finish in time (it hung)".to_owned(),
        )
    } else {
        match judge_run(case, ran.exit_code == Some(0), observed.as_ref()) {
            (TlsVerdict::Pass, why) => (Verdict::Pass, why),
            (_, why) => (Verdict::Fail, why),
        }
    };
    Outcome {
        case: About::of_tls(case),
        verdict,
        reason,
        exit_code: ran.exit_code,
        timed_out: ran.timed_out,
        duration: ran.duration,
        stdout: ran.stdout,
        stderr: ran.stderr,
        observation: None,
        server_log: Vec::new(),
    }
}

async fn read_bounded<R: tokio::io::AsyncRead + Unpin>(reader: Option<R>) -> String {
    let Some(reader) = reader else {
        return String::new();
    };
    let mut bytes = Vec::new();
    let _ = reader.take(MAX_OUTPUT).read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One line of the table, with the rule and a hint under a failure.
fn row(outcome: &Outcome) -> String {
    let mut out = String::new();
    let verdict = match outcome.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    };
    let _ = writeln!(
        out,
        "{verdict}  {:<13} {:<28} {}",
        outcome.case.group, outcome.case.id, outcome.reason
    );
    if outcome.verdict == Verdict::Fail {
        let _ = writeln!(out, "      rule: {}", outcome.case.rule);
        let _ = writeln!(out, "      hint: {}", outcome.case.hint);
    }
    out
}

fn catalogue_table() -> String {
    let mut out = String::new();
    let about = CASES
        .iter()
        .map(About::of)
        .chain(TlsCase::ALL.into_iter().map(About::of_tls));
    for case in about {
        let _ = writeln!(
            out,
            "{:<13} {:<28} {} — {} ({})",
            case.group, case.id, case.title, case.expect, case.rule
        );
    }
    out
}

pub(crate) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML 1.0 has no way to write most control characters.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test case per probe, its group as the class.
pub(crate) fn junit(outcomes: &[Outcome]) -> String {
    let failures = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Fail)
        .count();
    let total: f64 = outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"duplex check-client\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n",
        outcomes.len()
    );
    for outcome in outcomes {
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            outcome.case.group,
            xml(outcome.case.id),
            outcome.duration.as_secs_f64()
        );
        if outcome.verdict == Verdict::Fail {
            let _ = write!(
                out,
                "<failure message=\"{}\">{}\nrule: {}\nhint: {}\nstderr: {}</failure>",
                xml(&outcome.reason),
                xml(outcome.case.title),
                xml(outcome.case.rule),
                xml(outcome.case.hint),
                xml(&outcome.stderr.chars().take(2000).collect::<String>())
            );
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

fn report_json(command: &[String], outcomes: &[Outcome]) -> String {
    let failed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Fail)
        .count();
    let cases: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            json!({
                "id": o.case.id,
                "group": o.case.group,
                "title": o.case.title,
                "expect": o.case.expect,
                "verdict": if o.verdict == Verdict::Pass { "pass" } else { "fail" },
                "reason": o.reason,
                "rule": o.case.rule,
                "hint": o.case.hint,
                "exit_code": o.exit_code,
                "timed_out": o.timed_out,
                "duration_ms": (o.duration.as_secs_f64() * 1000.0).round(),
                "stdout": o.stdout.chars().take(4000).collect::<String>(),
                "stderr": o.stderr.chars().take(4000).collect::<String>(),
                "observation": o.observation,
                "server_log": o.server_log,
            })
        })
        .collect();
    let report = json!({
        "client": command,
        "cases": cases,
        "passed": outcomes.len() - failed,
        "failed": failed,
    });
    serde_json::to_string_pretty(&report).unwrap_or_else(|_| report.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str) -> &'static Case {
        CASES
            .iter()
            .find(|case| case.id == id)
            .unwrap_or_else(|| panic!("no case {id}"))
    }

    fn run(exit: i32, stdout: &str) -> Run {
        Run {
            exit_code: Some(exit),
            timed_out: false,
            stdout: stdout.to_owned(),
        }
    }

    #[test]
    fn accept_cases_need_exit_0_and_the_body() {
        let body = Output::Body.text();
        assert_eq!(
            judge(case("chunked"), &run(0, &body), None).0,
            Verdict::Pass
        );
        // A trailing newline added by the client does not matter.
        assert_eq!(
            judge(case("chunked"), &run(0, &format!("{body}\n")), None).0,
            Verdict::Pass
        );
        let (verdict, why) = judge(case("chunked"), &run(0, &body[..100]), None);
        assert_eq!(verdict, Verdict::Fail);
        assert!(why.contains("differ from byte 100"), "{why}");
        assert_eq!(judge(case("chunked"), &run(1, ""), None).0, Verdict::Fail);
    }

    #[test]
    fn reject_cases_need_a_nonzero_exit_and_a_hang_always_fails() {
        assert_eq!(
            judge(case("eof-in-chunk"), &run(3, ""), None).0,
            Verdict::Pass
        );
        assert_eq!(
            judge(case("eof-in-chunk"), &run(0, ""), None).0,
            Verdict::Fail
        );
        let hung = Run {
            timed_out: true,
            ..Run::default()
        };
        assert_eq!(judge(case("eof-in-chunk"), &hung, None).0, Verdict::Fail);
        // Either way is fine for lf-only, but accepting means printing the body.
        assert_eq!(judge(case("lf-only"), &run(1, ""), None).0, Verdict::Pass);
        assert_eq!(judge(case("lf-only"), &run(0, "x"), None).0, Verdict::Fail);
    }

    #[test]
    fn ping_and_close_cases_also_need_what_the_server_saw() {
        let message = Output::Message.text();
        let mut seen = Observation {
            pongs: vec![b"ping-3".to_vec()],
            ..Observation::default()
        };
        let (verdict, why) = judge(case("ping-storm"), &run(0, &message), Some(&seen));
        assert_eq!(verdict, Verdict::Fail);
        assert!(why.contains("ping-19"), "{why}");
        seen.pongs.push(b"ping-19".to_vec());
        assert_eq!(
            judge(case("ping-storm"), &run(0, &message), Some(&seen)).0,
            Verdict::Pass
        );
        assert_eq!(
            judge(case("close-code-reason"), &run(0, &message), Some(&seen)).0,
            Verdict::Fail
        );
        seen.client_close = Some(Some(4001));
        assert_eq!(
            judge(case("close-code-reason"), &run(0, &message), Some(&seen)).0,
            Verdict::Pass
        );
    }

    #[test]
    fn junit_escapes_and_counts_failures() {
        let outcome = Outcome {
            case: About::of(case("chunked")),
            verdict: Verdict::Fail,
            reason: "got <\"&\">".to_owned(),
            exit_code: Some(1),
            timed_out: false,
            duration: Duration::from_millis(5),
            stdout: String::new(),
            stderr: "\u{1}".to_owned(),
            observation: None,
            server_log: Vec::new(),
        };
        let xml = junit(&[outcome]);
        assert!(xml.contains("failures=\"1\""));
        assert!(xml.contains("got &lt;&quot;&amp;&quot;&gt;"));
        assert!(!xml.contains('\u{1}'));
    }
}
