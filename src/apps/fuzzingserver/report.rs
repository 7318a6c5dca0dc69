//! Results and reports in Autobahn's shapes: `index.json` (`{agent: {case: {behavior,
//! behaviorClose, duration, remoteCloseCode, reportfile}}}`, keys sorted, three-space indent),
//! one JSON file per agent and case (what was expected and received, the close, the wire log,
//! and duplex's plain-English explanation), and an `index.html` table linking to them.

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
                        escape(&s.reportfile),
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
            let text = serde_json::to_string_pretty(&record.report).unwrap_or_default();
            std::fs::write(outdir.join(&record.summary.reportfile), text)?;
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
