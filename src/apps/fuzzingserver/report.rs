//! Results and reports in Autobahn's shapes: `index.json` (`{agent: {case: {behavior,
//! behaviorClose, duration, remoteCloseCode, reportfile}}}`, keys sorted, three-space indent),
//! one JSON file per agent and case (what was expected and received, the close, the wire log,
//! and duplex's plain-English explanation) with a readable HTML twin, and an `index.html`
//! table linking to the HTML reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::catalogue::{CaseDef, Event, ExpectedClose, Payload};
use super::judge::Verdict;
use super::peer::{Finished, ascii_log};

/// One finished case for one agent.
#[derive(Debug)]
pub(crate) struct CaseRecord {
    pub(crate) summary: Summary,
    /// The per-case report, as written to `reportfile`.
    pub(crate) report: Value,
}

/// An `index.json` entry (fields in sorted order, as Autobahn writes them).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) behavior: Verdict,
    #[serde(rename = "behaviorClose")]
    pub(crate) behavior_close: Verdict,
    pub(crate) duration: u64,
    #[serde(rename = "remoteCloseCode")]
    pub(crate) remote_close_code: Option<u16>,
    pub(crate) reportfile: String,
    /// Not in Autobahn's index: why the case is not OK (only served over HTTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) explanation: Option<String>,
}

/// agent → case id → record.
pub(crate) type Results = BTreeMap<String, BTreeMap<String, Arc<CaseRecord>>>;

/// The record of `case` (the `index`-th selected, from 1) run by `agent`.
pub(crate) fn record(
    case: &CaseDef,
    index: usize,
    agent: &str,
    started: &str,
    finished: Finished,
) -> CaseRecord {
    let j = &finished.judgement;
    let reportfile = report_filename(agent, &case.id);
    let expected: BTreeMap<&str, Value> = case
        .expected
        .iter()
        .map(|(verdict, events)| (verdict.as_str(), events_json(events)))
        .collect();
    let close: ExpectedClose = case.expected_close();
    let mut report = json!({
        "agent": agent,
        "behavior": j.behavior,
        "behaviorClose": j.behavior_close,
        "case": index,
        "description": case.description,
        "duration": finished.duration_ms,
        "expectation": case.expectation,
        "expected": expected,
        "expectedClose": {
            "closeCode": close.close_code,
            "closedByMe": close.closed_by_me,
            "requireClean": close.require_clean,
        },
        "explanation": finished.explanation,
        "id": case.id,
        "isServer": true,
        "received": events_json(&finished.observed.received),
        "reportTime": case.report_time,
        "result": j.result,
        "resultClose": j.result_close,
        "started": started,
        "wirelog": finished.wirelog,
    });
    if let (Value::Object(report), Value::Object(details)) = (&mut report, finished.details) {
        report.extend(details);
    }
    CaseRecord {
        summary: Summary {
            behavior: j.behavior,
            behavior_close: j.behavior_close,
            duration: finished.duration_ms,
            remote_close_code: finished.observed.remote_close_code,
            reportfile,
            explanation: finished.explanation,
        },
        report,
    }
}

/// Autobahn's `cleanBin`: events as `["message", text-or-hex, binary]`, `["pong", …]`.
fn events_json(events: &[Event]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|event| match event {
                Event::Message { payload, binary } => json!(["message", preview(payload), binary]),
                Event::Ping { payload } => json!(["ping", preview(payload)]),
                Event::Pong { payload } => json!(["pong", preview(payload)]),
                Event::Timeout { tag } => json!(["timeout", tag]),
            })
            .collect(),
    )
}

fn preview(payload: &Payload) -> String {
    let head = payload.head(65);
    if payload.len() > 60 {
        // The length is not in Autobahn's preview; without it a short echo looks right.
        format!("{} [{} bytes]", ascii_log(&head), payload.len())
    } else {
        ascii_log(&head)
    }
}

/// Autobahn's `makeAgentCaseReportFilename`: `cleanForFilename(agent)_case_1_2_3.json`.
pub(crate) fn report_filename(agent: &str, case_id: &str) -> String {
    let cleaned: String = agent
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                ' '
            }
        })
        .collect();
    let cleaned = cleaned.trim().replace(' ', "_");
    format!("{cleaned}_case_{}.json", case_id.replace('.', "_"))
}

/// `index.json`'s text: sorted keys, three-space indent, as Python's `json.dumps(…,
/// sort_keys=True, indent=3, separators=(',', ': '))` writes it.
pub(crate) fn index_json(results: &Results, with_explanations: bool) -> String {
    let index: BTreeMap<&str, BTreeMap<&str, Summary>> = results
        .iter()
        .map(|(agent, cases)| {
            let cases = cases
                .iter()
                .map(|(id, record)| {
                    let mut summary = record.summary.clone();
                    if !with_explanations {
                        summary.explanation = None;
                    }
                    (id.as_str(), summary)
                })
                .collect();
            (agent.as_str(), cases)
        })
        .collect();
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    if index.serialize(&mut serializer).is_err() {
        return "{}".to_owned();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A table of every case (rows, in id order) by agent (columns).
pub(crate) fn index_html(results: &Results, ids: &[String], title: &str) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>duplex fuzzingserver</title>\n<style>\
         body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:2px 6px}\
         .OK,.INFORMATIONAL{background:#cfc}.NON-STRICT{background:#ffc}\
         .FAILED,.WRONG-CODE,.UNCLEAN{background:#fcc}.UNIMPLEMENTED{background:#ddd}\
         </style></head><body>\n",
    );
    let _ = writeln!(html, "<h1>{}</h1>", escape(title));
    html.push_str("<table><tr><th>case</th>");
    for agent in results.keys() {
        let _ = write!(html, "<th>{}</th>", escape(agent));
    }
    html.push_str("</tr>\n");
    for id in ids {
        let _ = write!(html, "<tr><td>{}</td>", escape(id));
        for cases in results.values() {
            match cases.get(id) {
                Some(record) => {
                    let s = &record.summary;
                    let class = if matches!(s.behavior, Verdict::Ok | Verdict::Informational) {
                        s.behavior_close.as_str()
                    } else {
                        s.behavior.as_str()
                    };
                    let _ = write!(
                        html,
                        "<td class=\"{}\" title=\"{}\"><a href=\"{}\">{} / {}</a> {} ms</td>",
                        class.replace(' ', "-"),
                        escape(s.explanation.as_deref().unwrap_or("")),
                        escape(&html_filename(&s.reportfile)),
                        s.behavior.as_str(),
                        s.behavior_close.as_str(),
                        s.duration
                    );
                }
                None => html.push_str("<td></td>"),
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table></body></html>\n");
    html
}

/// The HTML report's name beside the JSON one (`a_case_1_1_1.json` → `a_case_1_1_1.html`).
pub(crate) fn html_filename(reportfile: &str) -> String {
    let stem = reportfile.strip_suffix(".json").unwrap_or(reportfile);
    format!("{stem}.html")
}

/// The keys of a case report shown in their own sections; every other key goes into the
/// "Close and connection" table.
const SECTIONED: &[&str] = &[
    "agent",
    "behavior",
    "behaviorClose",
    "case",
    "description",
    "duration",
    "expectation",
    "expected",
    "expectedClose",
    "explanation",
    "id",
    "received",
    "result",
    "resultClose",
    "started",
    "wirelog",
];

/// One case report (the JSON report's `Value`) as a page: the case, what was expected, the
/// verdicts with their reasons and duplex's explanation, the close on both sides, and the
/// wire log. Everything from the report is escaped: payloads and close reasons are the
/// client's, and the case texts carry Autobahn's `<br>`/`<b>` markup, kept as line breaks only.
pub(crate) fn case_html(report: &Value) -> String {
    let text = |key: &str| match &report[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let verdict = |key: &str| text(key).replace(' ', "-");
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<style>\
         body{font-family:sans-serif;font-size:13px;max-width:70em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}\
         .text{white-space:pre-wrap}code,.wire td{font-family:monospace;white-space:pre-wrap;word-break:break-all}\
         .OK,.INFORMATIONAL{background:#cfc}.NON-STRICT{background:#ffc}\
         .FAILED,.WRONG-CODE,.UNCLEAN{background:#fcc}.UNIMPLEMENTED{background:#ddd}\
         </style>\n",
    );
    let _ = writeln!(
        html,
        "<title>Case {} ({})</title></head><body>",
        escape(&text("id")),
        escape(&text("agent"))
    );
    let _ = writeln!(
        html,
        "<h1>Case {}</h1>\n<p>Agent <b>{}</b>, case {} of the run, started {}, {} ms. \
         <a href=\"index.html\">All cases</a>, <a href=\"{}\">this report as JSON</a>.</p>",
        escape(&text("id")),
        escape(&text("agent")),
        escape(&text("case")),
        escape(&text("started")),
        escape(&text("duration")),
        escape(&text("reportfile_json")),
    );
    let _ = writeln!(
        html,
        "<h2>Case description</h2>\n<p class=\"text\">{}</p>\n<h2>Case expectation</h2>\n<p class=\"text\">{}</p>",
        escape(&markup_to_text(&text("description"))),
        escape(&markup_to_text(&text("expectation")))
    );
    html.push_str("<h2>Verdicts</h2>\n<table><tr><th></th><th>verdict</th><th>why</th></tr>\n");
    for (label, key, reason) in [
        ("behavior", "behavior", "result"),
        ("behaviorClose", "behaviorClose", "resultClose"),
    ] {
        let _ = writeln!(
            html,
            "<tr><th>{label}</th><td class=\"{}\">{}</td><td class=\"text\">{}</td></tr>",
            escape(&verdict(key)),
            escape(&text(key)),
            escape(&text(reason))
        );
    }
    html.push_str("</table>\n");
    let explanation = text("explanation");
    if !explanation.is_empty() {
        let _ = writeln!(
            html,
            "<h2>Explanation</h2>\n<p class=\"text\">{}</p>",
            escape(&explanation)
        );
    }
    html.push_str("<h2>Expected and received</h2>\n<table>\n");
    if let Value::Object(expected) = &report["expected"] {
        for (outcome, events) in expected {
            let _ = writeln!(
                html,
                "<tr><th>expected for {}</th><td><code>{}</code></td></tr>",
                escape(outcome),
                escape(&events.to_string())
            );
        }
    }
    let _ = writeln!(
        html,
        "<tr><th>received</th><td><code>{}</code></td></tr>\n</table>",
        escape(&report["received"].to_string())
    );
    html.push_str("<h2>Close and connection</h2>\n<table>\n");
    if let Value::Object(close) = &report["expectedClose"] {
        for (key, value) in close {
            let _ = writeln!(
                html,
                "<tr><th>expected {}</th><td><code>{}</code></td></tr>",
                escape(key),
                escape(&value.to_string())
            );
        }
    }
    if let Value::Object(fields) = report {
        for (key, value) in fields {
            if SECTIONED.contains(&key.as_str()) || key == "reportfile_json" {
                continue;
            }
            let _ = writeln!(
                html,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                escape(key),
                escape(&value.to_string())
            );
        }
    }
    html.push_str("</table>\n");
    wirelog_html(&mut html, &report["wirelog"]);
    html.push_str("</body></html>\n");
    html
}

/// Autobahn's case texts use `<br>` and `<b>`: line breaks, and plain text otherwise.
fn markup_to_text(text: &str) -> String {
    text.replace("<br>", "\n")
        .replace("<b>", "")
        .replace("</b>", "")
}

/// The wire log as a table: one row per entry, its kind in words and its fields.
fn wirelog_html(html: &mut String, wirelog: &Value) {
    let Value::Array(rows) = wirelog else {
        return;
    };
    let _ = writeln!(
        html,
        "<h2>Wire log</h2>\n<p>{} entries. RO/TO: octets received/sent (hex, sync: written on \
         their own); RF/TF: a frame received/sent ([length, payload], opcode, fin, rsv, then \
         mask or repeat length, chop size, sync); WLM: wire log on/off; KL/TI/CT and *E: \
         timers set and expired.</p>\n<table class=\"wire\"><tr><th>#</th><th>entry</th><th>fields</th></tr>",
        rows.len()
    );
    for (i, row) in rows.iter().enumerate() {
        let (kind, fields) = match row {
            Value::Array(items) => match items.split_first() {
                Some((Value::String(kind), rest)) => (kind.as_str(), Value::from(rest.to_vec())),
                _ => ("", row.clone()),
            },
            _ => ("", row.clone()),
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            escape(wire_kind(kind)),
            escape(&fields.to_string())
        );
    }
    html.push_str("</table>\n");
}

fn wire_kind(kind: &str) -> &str {
    match kind {
        "RO" => "RO received octets",
        "TO" => "TO sent octets",
        "RF" => "RF received frame",
        "TF" => "TF sent frame",
        "WLM" => "WLM wire log",
        "KL" => "KL kill after",
        "KLE" => "KLE kill timer fired",
        "TI" => "TI timeout",
        "TIE" => "TIE timeout fired",
        "CT" => "CT close timer",
        "CTE" => "CTE close timer fired",
        other => other,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes `index.json`, `index.html` and every case report into `outdir`.
///
/// # Errors
/// The directory cannot be created or a file written.
pub(crate) fn write_reports(
    outdir: &Path,
    results: &Results,
    ids: &[String],
) -> std::io::Result<()> {
    std::fs::create_dir_all(outdir)?;
    std::fs::write(outdir.join("index.json"), index_json(results, false))?;
    std::fs::write(
        outdir.join("index.html"),
        index_html(results, ids, "duplex fuzzingserver report"),
    )?;
    for cases in results.values() {
        for record in cases.values() {
            let reportfile = &record.summary.reportfile;
            let text = serde_json::to_string_pretty(&record.report).unwrap_or_default();
            std::fs::write(outdir.join(reportfile), text)?;
            let mut report = record.report.clone();
            if let Value::Object(fields) = &mut report {
                // The page links to its JSON twin.
                fields.insert("reportfile_json".to_owned(), json!(reportfile));
            }
            std::fs::write(outdir.join(html_filename(reportfile)), case_html(&report))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_filenames_follow_autobahn() {
        assert_eq!(report_filename("duplex", "1.1.1"), "duplex_case_1_1_1.json");
        assert_eq!(
            report_filename(" Python-websockets 14.1 ", "12.2.10"),
            "python_websockets_14_1_case_12_2_10.json"
        );
    }

    #[test]
    fn a_case_page_escapes_what_the_client_sent_and_shows_the_verdicts() {
        let report = json!({
            "id": "1.1.2",
            "agent": "<script>agent</script>",
            "behavior": "FAILED",
            "behaviorClose": "OK",
            "result": "Expected text, got <img src=x onerror=alert(1)>",
            "description": "Send text message with payload of length 125.<br>Then <b>close</b>.",
            "explanation": "The client echoed \"<b>\" & more.",
            "received": [["message", "</code><script>x</script>", false]],
            "remoteCloseReason": "</td><script>",
            "wirelog": [["RF", [9, "<iframe>"], 1, true, 0, true, "01020304"]],
            "reportfile_json": "a_case_1_1_2.json",
        });
        let html = case_html(&report);
        assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<iframe>"));
        assert!(html.contains("&lt;script&gt;agent&lt;/script&gt;"));
        assert!(html.contains("<td class=\"FAILED\">FAILED</td>"));
        assert!(html.contains("length 125.\nThen close."));
        assert!(html.contains("The client echoed &quot;&lt;b&gt;&quot; &amp; more."));
        assert!(html.contains(
            "<th>remoteCloseReason</th><td><code>&quot;&lt;/td&gt;&lt;script&gt;&quot;</code>"
        ));
        assert!(html.contains("<td>RF received frame</td><td>[[9,&quot;&lt;iframe&gt;&quot;],1,true,0,true,&quot;01020304&quot;]</td>"));
        assert!(html.contains("<a href=\"a_case_1_1_2.json\">"));
        assert_eq!(html_filename("a_case_1_1_2.json"), "a_case_1_1_2.html");
    }

    #[test]
    fn the_index_has_autobahns_shape() {
        let mut results = Results::new();
        let summary = Summary {
            behavior: Verdict::Ok,
            behavior_close: Verdict::Ok,
            duration: 2,
            remote_close_code: Some(1000),
            reportfile: "a_case_1_1_1.json".to_owned(),
            explanation: Some("x".to_owned()),
        };
        let record = Arc::new(CaseRecord {
            summary,
            report: Value::Null,
        });
        results
            .entry("a".to_owned())
            .or_default()
            .insert("1.1.1".to_owned(), record);
        let expected = "{\n   \"a\": {\n      \"1.1.1\": {\n         \"behavior\": \"OK\",\n         \"behaviorClose\": \"OK\",\n         \"duration\": 2,\n         \"remoteCloseCode\": 1000,\n         \"reportfile\": \"a_case_1_1_1.json\"\n      }\n   }\n}";
        assert_eq!(index_json(&results, false), expected);
    }
}
