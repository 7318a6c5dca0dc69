#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into results.md (tables, targets) and results.svg (ratio
bars). Standard library only; every figure comes from the one results file it is given."""

import argparse
import html
import json
import math


def median_run(runs, key):
    """The run whose `key` is the median (the middle run of an odd count), so its latency
    figures belong to the same run as its throughput."""
    ordered = sorted((r for r in runs if r), key=lambda r: r.get(key, 0))
    return ordered[len(ordered) // 2] if ordered else {}


def load(path):
    http, echo, stream, meta = {}, {}, [], {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            if row["kind"] == "http":
                run = median_run(row["runs"], "rps")
                run["all"] = [r.get("rps", 0) for r in row["runs"]]
                http[(row["server"], row["transport"], row["mode"], row["endpoint"])] = run
            elif row["kind"] == "echo":
                run = median_run(row["runs"], "round_trips_per_s")
                run["all"] = [r.get("round_trips_per_s", 0) for r in row["runs"]]
                echo[(row["server"], row["transport"])] = run
            elif row["kind"] == "stream":
                stream.append((row["server"], row["result"]))
            elif row["kind"] == "meta":
                meta = row
    return http, echo, stream, meta


def errors(run):
    return sum(run.get("errors", {}).values()) if run else 0


def fmt_rate(x):
    return f"{x:,.0f}" if x is not None else "–"


def fmt_ratio(x, suffix="×"):
    if x is None:
        return "–"
    return f"{x:.1f}{suffix}" if x >= 10 else f"{x:.2f}{suffix}"


def ratio(a, b):
    return a / b if a and b else None


ENDPOINTS = ["GET /status", "GET /", "GET /items/1", "POST /items", "GET /static/data.txt"]


def http_rows(http):
    rows = []
    for transport in ("plain", "tls"):
        for mode, endpoints in (("keep-alive", ENDPOINTS), ("close", ["GET /status"])):
            for endpoint in endpoints:
                # {} where a server has no such row, so callers can .get() without checks.
                d = http.get(("duplex", transport, mode, endpoint), {})
                f = http.get(("fastapi", transport, mode, endpoint), {})
                c = http.get(("ceiling", transport, mode, endpoint), {})
                if not (d or f or c):
                    continue
                rows.append(dict(transport=transport, mode=mode, endpoint=endpoint, d=d, f=f, c=c))
    return rows


def markdown(http, echo, stream, meta):
    out = []
    w = out.append
    w("# Benchmarks: duplex vs the FastAPI original vs a bare-hyper ceiling")
    w("")
    w(f"Written by `bench/run.sh`; the run finished {meta.get('finished', '?')}. "
      "Every figure below comes from that one run.")
    w("")
    w(f"- Machine: {meta.get('machine', '?')}")
    w(f"- Software: {meta.get('versions', '?')}")
    w(f"- Settings: {meta.get('settings', '?')}")
    w("- Every server is pinned to one core (`taskset`) with one worker: duplex and the ceiling "
      "with a 1-thread tokio runtime, the original as the guide runs it (`uvicorn main:app`, one "
      "process, access log off). The load generator is pinned to the other core. The servers of "
      "one transport run side by side on their own ports and the loads take turns (run 1 on "
      "every server, then run 2, ...), so a slow spell of the VM hits all of them. Each row is "
      "the median of the runs (by throughput); p50/p99 are that run's.")
    w("- HTTP: `wrk -t1 -c64` with `bench/wrk.lua`; `close` rows send `Connection: close`, so each "
      "request pays a TCP (and TLS) handshake. The ceiling (`examples/ceiling.rs`) answers every "
      "request with the 15 bytes of `/status` straight from hyper.")
    w("- WebSocket echo: `duplex bench echo --connections 32 --size 20`; stream fan-out: "
      "`duplex bench stream`, a tick is on time when it arrives within 100 ms of its schedule "
      "(the first update's timestamp plus one second per update).")
    w("")
    w("## HTTP")
    w("")
    w("| transport | connections | request | duplex req/s | p50 / p99 ms | FastAPI req/s | p50 / p99 ms "
      "| ceiling req/s | duplex ÷ FastAPI | duplex ÷ ceiling | p99 FastAPI ÷ duplex |")
    w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in http_rows(http):
        d, f, c = r["d"], r["f"], r["c"]
        lat = lambda x: f"{x['p50_ms']:.2f} / {x['p99_ms']:.2f}" if x else "–"
        note = ""
        if errors(d) or errors(f):
            note = f" ⚠ errors: duplex {errors(d)}, FastAPI {errors(f)}"
        w(f"| {r['transport']} | {r['mode']} | `{r['endpoint']}`{note} | {fmt_rate(d.get('rps'))} | {lat(d)} "
          f"| {fmt_rate(f.get('rps'))} | {lat(f)} | {fmt_rate(c.get('rps'))} "
          f"| {fmt_ratio(ratio(d.get('rps'), f.get('rps')))} "
          f"| {fmt_ratio(ratio(d.get('rps'), c.get('rps')) and 100 * ratio(d.get('rps'), c.get('rps')), ' %')} "
          f"| {fmt_ratio(ratio(f.get('p99_ms'), d.get('p99_ms')))} |")
    w("")
    fast = [(t, http.get(("duplex", t, "keep-alive", "GET /status")), http.get(("duplex-h100", t, "keep-alive", "GET /status")),
             http.get(("ceiling", t, "keep-alive", "GET /status"))) for t in ("plain", "tls")]
    fast = [row for row in fast if row[2]]
    if fast:
        w("### The cost of room for 200 headers")
        w("")
        w("duplex accepts up to 256 header lines by default, because the original accepts 200. Above hyper's "
          "100, hyper allocates and fills two header arrays of that length for every request. "
          "`--max-headers 100` turns that off:")
        w("")
        w("| transport | `GET /status` | req/s | ÷ ceiling |")
        w("|---|---|---:|---:|")
        for transport, d, h, c in fast:
            for name, run in (("duplex (default, 256)", d), ("duplex --max-headers 100", h), ("bare-hyper ceiling", c)):
                if run:
                    x = ratio(run.get("rps"), (c or {}).get("rps"))
                    w(f"| {transport} | {name} | {fmt_rate(run.get('rps'))} | {fmt_ratio(x and 100 * x, ' %')} |")
        w("")
    if echo:
        w("## WebSocket echo (32 connections, 20-byte messages, one at a time per connection)")
        w("")
        w("| transport | duplex round trips/s | p50 / p99 µs | FastAPI round trips/s | p50 / p99 µs | duplex ÷ FastAPI |")
        w("|---|---:|---:|---:|---:|---:|")
        for transport in ("plain", "tls"):
            d, f = echo.get(("duplex", transport), {}), echo.get(("fastapi", transport), {})
            if not (d or f):
                continue
            lat = lambda x: f"{x['p50_us']} / {x['p99_us']}" if x else "–"
            w(f"| {transport} | {fmt_rate(d.get('round_trips_per_s'))} | {lat(d)} "
              f"| {fmt_rate(f.get('round_trips_per_s'))} | {lat(f)} "
              f"| {fmt_ratio(ratio(d.get('round_trips_per_s'), f.get('round_trips_per_s')))} |")
        w("")
    if stream:
        w("## `/ws/stream` fan-out (plain WebSocket)")
        w("")
        w("| server | subscribers | connected | ticks due | lost | later than 100 ms (in how many seconds) "
          "| lateness p50 / p99 / max ms | updates arrived per subscriber-second | server RSS per subscriber "
          "| every tick on time |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for server, s in stream:
            name = "duplex" if server == "duplex" else "FastAPI"
            rss = s.get("rss_per_subscriber_kib")
            lost = s.get("lost")
            due = s.get("expected")
            lost_text = f"{lost:,} ({100 * lost / due:.1f} %)" if due else "–"
            late = s.get("late")
            late_text = f"{late:,} ({s.get('late_seconds', '–')} s)" if late else "0"
            arrived = s.get("arrived")
            rate = f"{arrived / due:.2f}" if due and arrived is not None else "–"
            w(f"| {name} | {s.get('subscribers', 0):,} | {s.get('connected', 0):,} | {due or 0:,} | {lost_text} "
              f"| {late_text} | {s.get('p50_ms', '–')} / {s.get('p99_ms', '–')} / {s.get('max_ms', '–')} | {rate} "
              f"| {f'{rss:.1f} KiB' if rss is not None else '–'} | {'yes' if s.get('on_time') else 'no'}"
              f"{' (' + s['first_error'] + ')' if s.get('first_error') else ''} |")
        w("")
        w("A tick is due at the subscriber's first update's timestamp plus one second per update "
          "after it; it is late when it arrives more than 100 ms after that, and lost when it has "
          "not arrived a second after the window. \"Updates arrived per subscriber-second\" counts "
          "whatever arrived during the window: 1.00 means one update per second, a server that "
          "falls behind delivers fewer. Late ticks bunched in one or two seconds point to a stall "
          "of the machine; spread over every second, to a server that cannot keep up.")
        w("")
    w("## Targets (issue 5)")
    w("")
    w("| target | measured | met |")
    w("|---|---|---|")
    for name, measured, met in targets(http, echo, stream):
        w(f"| {name} | {measured} | {'yes' if met else '**no**'} |")
    w("")
    w("Reproduce: `bench/run.sh` (see the header of the script for its settings).")
    return "\n".join(out) + "\n"


def targets(http, echo, stream):
    found = []
    rows = [r for r in http_rows(http) if r["mode"] == "keep-alive"]
    if rows:
        ratios = [(r, ratio(r["d"].get("rps"), r["f"].get("rps"))) for r in rows]
        worst = min(ratios, key=lambda x: x[1] or 0)
        found.append(("HTTP keep-alive, every endpoint, plain and TLS: duplex ≥ 20× FastAPI per core",
                      f"lowest {fmt_ratio(worst[1])} ({worst[0]['transport']} `{worst[0]['endpoint']}`)",
                      all(x and x >= 20 for _, x in ratios)))
        for r in rows:
            if r["endpoint"] == "GET /status" and r["c"]:
                x = ratio(r["d"].get("rps"), r["c"].get("rps"))
                h = http.get(("duplex-h100", r["transport"], "keep-alive", "GET /status"))
                hx = ratio((h or {}).get("rps"), r["c"].get("rps"))
                fast = f" (with `--max-headers 100`: {fmt_ratio(hx and 100 * hx, ' %')})" if hx else ""
                found.append((f"{r['transport']} `GET /status`: duplex ≥ 90 % of the bare-hyper ceiling",
                              fmt_ratio(x and 100 * x, " %") + fast, bool(x and x >= 0.9)))
        p99 = [(r, ratio(r["f"].get("p99_ms"), r["d"].get("p99_ms"))) for r in rows]
        worst = min(p99, key=lambda x: x[1] or 0)
        stack = [ratio(r["f"].get("p99_ms"), r["c"].get("p99_ms")) for r in rows if r["c"]]
        stack_text = ""
        if stack:
            stack_text = ("; the bare-hyper ceiling's own p99 on `/status` is only "
                          + " and ".join(fmt_ratio(x) for x in stack if x) + " below the original's in this run")
        found.append(("p99 latency at 64 connections ≤ 1/10 of the original's",
                      f"lowest FastAPI ÷ duplex p99 {fmt_ratio(worst[1])} ({worst[0]['transport']} `{worst[0]['endpoint']}`)"
                      + stack_text,
                      all(x and x >= 10 for _, x in p99)))
    for transport in ("plain", "tls"):
        d, f = echo.get(("duplex", transport)), echo.get(("fastapi", transport))
        if d and f:
            x = ratio(d.get("round_trips_per_s"), f.get("round_trips_per_s"))
            found.append((f"WebSocket echo ({transport}) ≥ 6× the original",
                          f"{fmt_ratio(x)} ({fmt_rate(d.get('round_trips_per_s'))}/s)", bool(x and x >= 6)))
    for server, s in stream:
        if server == "duplex" and s.get("subscribers") == max(
                (t.get("subscribers", 0) for srv, t in stream if srv == "duplex"), default=0):
            found.append((f"`/ws/stream`: {s.get('subscribers', 0):,} subscribers, every tick within 100 ms",
                          f"{s.get('lost', '–')} lost, {s.get('late', '–')} late, max {s.get('max_ms', '–')} ms",
                          bool(s.get("on_time"))))
            rss = s.get("rss_per_subscriber_kib")
            found.append(("`/ws/stream`: ≤ 16 KiB server RSS per subscriber",
                          f"{rss:.1f} KiB" if rss is not None else "not measured",
                          rss is not None and rss <= 16))
    return found


def svg(http, echo, stream):
    """Two panels of horizontal bars: duplex ÷ FastAPI (log scale) and duplex ÷ ceiling
    (linear). A bar with a target carries a red mark there and is blue when it reaches it,
    orange when not; bars without a target (connection-per-request rows) are grey."""
    bars, ceil_bars = [], []
    for r in http_rows(http):
        label = f"{r['transport']} {r['mode']} {r['endpoint']}"
        keep_alive = r["mode"] == "keep-alive"
        x = ratio(r["d"].get("rps"), r["f"].get("rps"))
        if x:
            bars.append((label, x, 20 if keep_alive else None))
        x = ratio(r["d"].get("rps"), r["c"].get("rps"))
        if x:
            ceil_bars.append((label, x, 0.9 if keep_alive else None))
    for transport in ("plain", "tls"):
        d, f = echo.get(("duplex", transport)), echo.get(("fastapi", transport))
        x = d and f and ratio(d.get("round_trips_per_s"), f.get("round_trips_per_s"))
        if x:
            bars.append((f"{transport} WebSocket echo", x, 6))

    label_w, plot_w, bar_h, gap = 250, 420, 18, 6
    width = label_w + plot_w + 80
    parts = []
    y = 0

    def text(x, y, s, anchor="start", size=12, weight="normal", fill="#222"):
        parts.append(f'<text x="{x}" y="{y}" font-size="{size}" font-weight="{weight}" '
                     f'text-anchor="{anchor}" fill="{fill}">{html.escape(s)}</text>')

    def panel(title, items, scale, fmt, ticks):
        nonlocal y
        y += 28
        text(10, y, title, size=14, weight="bold")
        y += 14
        top = y
        for label, value, target in items:
            text(label_w - 8, y + bar_h - 5, label, anchor="end")
            wdt = max(1.0, scale(value))
            color = "#999" if target is None else ("#2b7bb9" if value >= target else "#d9822b")
            parts.append(f'<rect x="{label_w}" y="{y}" width="{wdt:.1f}" height="{bar_h}" fill="{color}"/>')
            if target is not None:
                tx = label_w + scale(target)
                parts.append(f'<line x1="{tx:.1f}" y1="{y - 2}" x2="{tx:.1f}" y2="{y + bar_h + 2}" '
                             'stroke="#c0392b" stroke-width="2"/>')
            text(label_w + wdt + 4, y + bar_h - 5, fmt(value))
            y += bar_h + gap
        bottom = y
        for t in ticks:
            tx = label_w + scale(t)
            parts.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{bottom}" stroke="#ccc" stroke-width="1"/>')
            text(tx, bottom + 12, fmt(t), anchor="middle", size=10, fill="#666")
        y = bottom + 16

    if bars:
        top_value = max(100.0, max(v for _, v, _ in bars) * 1.2)
        log_scale = lambda v: plot_w * math.log10(max(v, 1.0)) / math.log10(top_value)
        panel("duplex ÷ FastAPI original (throughput, log scale; red mark: target)", bars, log_scale,
              lambda v: f"{v:.0f}×" if v >= 10 else f"{v:.1f}×", [1, 10, 100])
    if ceil_bars:
        lin = lambda v: plot_w * min(v, 1.2) / 1.2
        panel("duplex ÷ bare-hyper ceiling (GET /status; red mark: target)", ceil_bars, lin,
              lambda v: f"{100 * v:.0f} %", [0.5, 1.0])
    height = y + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="white"/>' + "".join(parts) + "</svg>\n")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results")
    p.add_argument("markdown")
    p.add_argument("svg")
    args = p.parse_args()
    http, echo, stream, meta = load(args.results)
    with open(args.markdown, "w") as f:
        f.write(markdown(http, echo, stream, meta))
    with open(args.svg, "w") as f:
        f.write(svg(http, echo, stream))


if __name__ == "__main__":
    main()
