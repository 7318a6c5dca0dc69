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
    """The rows of a results file: HTTP/1.1 (wrk), WebSocket echo, idle memory, stream fan-out,
    the run's description, and `extra`: HTTP/2 (h2load), echo over HTTP/2 and TLS handshakes."""
    http, echo, idle, stream, meta = {}, {}, {}, [], {}
    extra = {"h2": {}, "echo_h2": {}, "handshake": {}, "pair": {}}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            if row["kind"] == "http":
                run = median_run(row["runs"], "rps")
                run["all"] = [r.get("rps", 0) for r in row["runs"]]
                run["cpu"] = median([r.get("cpu_us") for r in row["runs"]])
                # Run by run, for ratios between servers that took turns.
                run["cpus"] = [r.get("cpu_us") for r in row["runs"]]
                http[(row["server"], row["transport"], row["mode"], row["endpoint"])] = run
            elif row["kind"] == "echo":
                run = median_run(row["runs"], "round_trips_per_s")
                run["all"] = [r.get("round_trips_per_s", 0) for r in row["runs"]]
                run["cpu"] = median([r.get("cpu_us") for r in row["runs"]])
                run["cpus"] = [r.get("cpu_us") for r in row["runs"]]
                # Older results have no protocol: HTTP/1.1 upgrades.
                into = extra["echo_h2"] if row.get("protocol") == "h2" else echo
                into[(row["server"], row["transport"], row.get("path", "/ws/echo"))] = run
            elif row["kind"] == "h2":
                run = median_run(row["runs"], "rps")
                run["cpu"] = median([r.get("cpu_us") for r in row["runs"]])
                run["errors"] = summed_errors(row["runs"])
                extra["h2"][(row["server"], row["transport"], row["endpoint"])] = run
            elif row["kind"] == "handshake":
                run = median_run(row["runs"], "handshakes_per_s")
                run["cpu"] = median([r.get("cpu_us") for r in row["runs"]])
                # Over every run, so one run that did not resume shows.
                run["total"] = sum(r.get("handshakes") or 0 for r in row["runs"])
                run["total_resumed"] = sum(r.get("resumed") or 0 for r in row["runs"])
                run["total_errors"] = sum(r.get("errors") or 0 for r in row["runs"])
                run["failures"] = [r["error"] for r in row["runs"] if r.get("error")]
                extra["handshake"][(row["server"], row["handshake"])] = run
            elif row["kind"] == "pair":
                a = [r.get("cpu_us") for r in row["runs_a"]]
                b = [r.get("cpu_us") for r in row["runs_b"]]
                extra["pair"][(row["server"], row["transport"], row["a"], row["b"])] = {
                    "a_cpu": median(a), "b_cpu": median(b), "ratio": paired_ratio(a, b)}
            elif row["kind"] == "idle":
                idle[(row["server"], row["transport"])] = row["result"]
            elif row["kind"] == "stream":
                stream.append((row["server"], row["result"]))
            elif row["kind"] == "meta":
                meta = row
    return http, echo, idle, stream, meta, extra


def summed_errors(runs):
    """Each kind of error over all runs (h2load's failed, errored and timed-out requests)."""
    total = {}
    for r in runs:
        for kind, n in (r.get("errors") or {}).items():
            total[kind] = total.get(kind, 0) + n
    return total


def median(values):
    """The median of the runs' CPU time per request (each run's own figure, so one slow run
    moves it less than a mean would)."""
    values = sorted(v for v in values if v)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def errors(run):
    return sum(run.get("errors", {}).values()) if run else 0


def fmt_rate(x):
    return f"{x:,.0f}" if x is not None else "–"


def fmt_ratio(x, suffix="×"):
    if x is None:
        return "–"
    return f"{x:.1f}{suffix}" if x >= 10 else f"{x:.2f}{suffix}"


def round_ratios(a, b):
    """a[i] / b[i] for each round both sides ran."""
    return [x / y for x, y in zip(a or [], b or []) if x and y]


def paired_ratio(a, b):
    """The median of a[i] / b[i]: runs that took turns share the machine's speed of the moment,
    so their ratio is steadier than the ratio of the medians."""
    return median(round_ratios(a, b))


# The second instance of the ceiling (bench/run.sh's ceiling-b).
CEILING_AGAIN = "bare-hyper ceiling again (a second instance: the yardstick's spread)"


def ratio(a, b):
    return a / b if a and b else None


ENDPOINTS = ["GET /status", "GET /", "GET /items/1", "POST /items", "GET /static/data.txt"]


def fmt_us(x):
    return f"{x:.2f}" if x is not None else "–"


def http_rows(http):
    rows = []
    for transport in ("plain", "tls"):
        for mode, endpoints in (("keep-alive", ENDPOINTS), ("close", ["GET /status"]),
                                ("pipelined", ["GET /status"])):
            for endpoint in endpoints:
                # {} where a server has no such row, so callers can .get() without checks.
                d = http.get(("duplex", transport, mode, endpoint), {})
                f = http.get(("fastapi", transport, mode, endpoint), {})
                c = http.get(("ceiling", transport, mode, endpoint), {})
                if not (d or f or c):
                    continue
                rows.append(dict(transport=transport, mode=mode, endpoint=endpoint, d=d, f=f, c=c))
    return rows


def markdown(http, echo, idle, stream, meta, pipeline, extra=None, h2="64/10", handshake_connections=32):
    out = []
    w = out.append
    w("# Benchmarks: duplex vs the FastAPI original vs bare-library ceilings")
    w("")
    w(f"Written by `bench/run.sh`; the run finished {meta.get('finished', '?')}. "
      "Every figure below comes from that one run.")
    w("")
    w(f"- Machine: {meta.get('machine', '?')}")
    w(f"- Software: {meta.get('versions', '?')}")
    w(f"- Settings: {meta.get('settings', '?')}")
    w("- **The yardstick is the server's CPU time per request** (utime + stime of the server "
      "process from `/proc/PID/stat` around each load, divided by the requests or round trips it "
      "served): a one-core `wrk` saturates near 150k req/s on this machine, so throughput alone "
      "stops saying what each server costs. Every ratio below is computed from CPU time; "
      "throughput and latency stay beside it for the reader.")
    w("- Every server is pinned to one core (`taskset`) with one worker: duplex and the ceilings "
      "with a 1-thread tokio runtime, the original as the guide runs it (`uvicorn main:app`, one "
      "process, access log off). The load generator is pinned to the other core. The servers of "
      "one transport run side by side on their own ports and the loads take turns (run 1 on "
      "every server, then run 2, ...; each round starts one server further on, so no server always "
      "runs right after the same one), so a slow spell of the VM hits all of them. CPU figures "
      "are the median of the runs; throughput, p50 and p99 are the median run's (by throughput).")
    w("- HTTP: `wrk -t1 -c64` with `bench/wrk.lua`; `close` rows send `Connection: close`, so each "
      f"request pays a TCP (and TLS) handshake; `pipelined` rows write {pipeline} requests at once "
      "(wrk's pipeline example). The ceiling (`bench/ceiling`) answers every request with "
      "the 15 bytes of `/status` straight from hyper, on duplex's runtime, TLS and socket settings. "
      "duplex runs at its defaults (room for 256 header lines) with the access log off "
      "(`--log-level warn`), except where a row says otherwise.")
    w("- WebSocket echo: `duplex bench echo --connections 32 --size 20`. The WebSocket ceilings "
      "(`bench/ceiling --ws LIB`) are echo servers on tokio-tungstenite and fastwebsockets, "
      "measured against duplex's `/ws/mirror` (the message back as is). Idle memory: `duplex bench "
      "idle` opens the connections (each after one keep-alive `GET /status`, or a WebSocket "
      "handshake), waits 2 s and reads the server's `VmRSS`; a fresh server per row. Stream "
      "fan-out: `duplex bench stream`, a tick is on time when it arrives within 100 ms of its "
      "schedule (the first update's timestamp plus one second per update).")
    h2_conns, _, h2_streams = h2.partition("/")
    w(f"- HTTP/2: `h2load -t1 -c{h2_conns} -m{h2_streams}` (nghttp2's load generator: {h2_conns} connections, "
      f"up to {h2_streams} streams in flight on each) for the run's duration, over TLS (ALPN `h2`) and in "
      "cleartext with prior knowledge (h2c). The ceiling is `bench/ceiling --http2`: hyper's HTTP/2 "
      "server with duplex's default HTTP/2 limits, choosing the protocol by ALPN as duplex does. The "
      "WebSocket echo over HTTP/2 (RFC 8441) is `duplex bench echo --http2` (one HTTP/2 connection per "
      "WebSocket); no bare Rust library speaks RFC 8441 (tokio-tungstenite and fastwebsockets upgrade "
      "HTTP/1.1 only), so it has no ceiling.")
    w(f"- TLS handshakes: `duplex bench handshake --connections {handshake_connections}`: each connection "
      "opens TCP, does the TLS handshake (offering `http/1.1`), sends `close_notify` and reads until the "
      "server closes, then the next starts. Full: the client keeps no session. Resumed: each connection "
      "offers the ticket of its own previous handshake, and the load generator counts the handshakes "
      "rustls reports as resumed (a run where none resumed is an error, not a figure). Against duplex "
      "and the HTTP/1.1 ceiling, which share duplex's TLS configuration (`src/transport/tls.rs`: "
      "stateless session tickets, two per handshake). Each handshake's CPU includes its TCP "
      "connection's accept and close.")
    w("")
    rows = http_rows(http)
    if rows:  # a run of other groups only (BENCH_ONLY) has none
        w("## HTTP")
        w("")
        w("| transport | connections | request | duplex CPU µs/req | FastAPI CPU µs/req | ceiling CPU µs/req "
          "| FastAPI ÷ duplex (CPU) | duplex ÷ ceiling (CPU) | duplex req/s | FastAPI req/s | ceiling req/s "
          "| p50 / p99 ms: duplex | FastAPI | ceiling |")
        w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        lat = lambda x: f"{x['p50_ms']:.2f} / {x['p99_ms']:.2f}" if x and "p50_ms" in x else "–"
        for r in rows:
            d, f, c = r["d"], r["f"], r["c"]
            note = ""
            if errors(d) or errors(f) or errors(c):
                note = f" ⚠ errors: duplex {errors(d)}, FastAPI {errors(f)}, ceiling {errors(c)}"
            w(f"| {r['transport']} | {r['mode']} | `{r['endpoint']}`{note} | {fmt_us(d.get('cpu'))} "
              f"| {fmt_us(f.get('cpu'))} | {fmt_us(c.get('cpu'))} "
              f"| {fmt_ratio(ratio(f.get('cpu'), d.get('cpu')))} | {fmt_ratio(ratio(d.get('cpu'), c.get('cpu')))} "
              f"| {fmt_rate(d.get('rps'))} | {fmt_rate(f.get('rps'))} | {fmt_rate(c.get('rps'))} "
              f"| {lat(d)} | {lat(f)} | {lat(c)} |")
        w("")
    variants = []
    for t in ("plain", "tls"):
        c = http.get(("ceiling", t, "keep-alive", "GET /status"))
        for server, name in (("duplex", "duplex (defaults, access log off)"),
                             ("duplex-h100", "duplex `--max-headers 100`"),
                             ("duplex-log", "duplex with the access log on (lines to a file)"),
                             ("ceiling", "bare-hyper ceiling"),
                             ("ceiling-b", CEILING_AGAIN)):
            run = http.get((server, t, "keep-alive", "GET /status"))
            if run:
                variants.append((t, name, run, c))
    if any(name != "bare-hyper ceiling" and not name.startswith("duplex (") for _, name, _, _ in variants):
        w("### `GET /status`: header room and the access log")
        w("")
        w("duplex accepts up to 256 header lines by default, because the original accepts 200. Sized "
          "for more than 100, hyper's parser allocates two header arrays of that length for every "
          "request, so each connection starts on hyper's parser for 100 and moves to one sized for 256 "
          "at the first head that needs it; `--max-headers 100` (never moves) shows what is left of the "
          "difference. The access-log row writes one line per request to a file. The last row of each "
          "transport is the same ceiling binary again, a second instance measured in the same rounds: "
          "its ratio to the first is what the machine's drift alone makes of 1.00, the yardstick's own "
          "spread. Ratios here are medians of the rounds' ratios, with the lowest and highest round.")
        w("")
        w("| transport | server | CPU µs/req | ÷ ceiling (CPU) | rounds | req/s |")
        w("|---|---|---:|---:|---:|---:|")
        for t, name, run, c in variants:
            paired = paired_ratio(run.get("cpus"), (c or {}).get("cpus"))
            x = paired or ratio(run.get("cpu"), (c or {}).get("cpu"))
            spread = round_ratios(run.get("cpus"), (c or {}).get("cpus"))
            shown = f"{fmt_ratio(min(spread))}–{fmt_ratio(max(spread))}" if spread and name != "bare-hyper ceiling" else "–"
            w(f"| {t} | {name} | {fmt_us(run.get('cpu'))} | {fmt_ratio(x)} | {shown} "
              f"| {fmt_rate(run.get('rps'))} |")
        w("")
    extra = extra or {}
    out.extend(h2_section(extra, http, echo))
    out.extend(handshake_section(extra))
    if echo:
        w("## WebSocket echo (32 connections, 20-byte messages, one at a time per connection)")
        w("")
        w("| transport | path | server | CPU µs per round trip | round trips/s | p50 / p99 µs | ÷ duplex (CPU) |")
        w("|---|---|---|---:|---:|---:|---:|")
        names = {"duplex": "duplex", "fastapi": "FastAPI original", "tungstenite": "tokio-tungstenite",
                 "fastwebsockets": "fastwebsockets",
                 "fastwebsockets-b": "fastwebsockets again (a second instance: the yardstick's spread)"}
        for transport in ("plain", "tls"):
            for path, servers in (("/ws/echo", ("duplex", "fastapi")),
                                  ("/ws/mirror", ("duplex", "tungstenite", "fastwebsockets", "fastwebsockets-b"))):
                base = echo.get(("duplex", transport, path), {})
                for server in servers:
                    run = echo.get((server, transport, path))
                    if not run:
                        continue
                    shown = path if server in ("duplex", "fastapi") else "any"
                    w(f"| {transport} | `{shown}` | {names[server]} | {fmt_us(run.get('cpu'))} "
                      f"| {fmt_rate(run.get('round_trips_per_s'))} | {run.get('p50_us', '–')} / {run.get('p99_us', '–')} "
                      f"| {fmt_ratio(ratio(run.get('cpu'), base.get('cpu')))} |")
        w("")
    if idle:
        w("## Memory per idle connection")
        w("")
        w("| connections | server | open | server RSS before → after | bytes per idle connection | − ceiling |")
        w("|---|---|---:|---:|---:|---:|")
        ceilings = {"plain": "ceiling", "tls": "ceiling", "websocket": None}
        names = {"duplex": "duplex", "ceiling": "bare-hyper ceiling", "tungstenite": "tokio-tungstenite",
                 "fastwebsockets": "fastwebsockets"}
        for kind, label in (("plain", "HTTP keep-alive, plain"), ("tls", "HTTP keep-alive, TLS"),
                            ("websocket", "WebSocket, plain")):
            base = None
            if ceilings[kind]:
                base = (idle.get((ceilings[kind], kind)) or {}).get("bytes_per_connection")
            for server in ("duplex", "ceiling", "tungstenite", "fastwebsockets"):
                res = idle.get((server, kind))
                if not res:
                    continue
                per = res.get("bytes_per_connection")
                diff = f"{per - base:+,.0f}" if per is not None and base is not None and server == "duplex" else "–"
                err = f" ({res['first_error']})" if res.get("first_error") else ""
                w(f"| {label} | {names[server]} | {res.get('opened', 0):,} of {res.get('connections', 0):,}{err} "
                  f"| {res.get('rss_before_kib', 0):,} → {res.get('rss_after_kib', 0):,} KiB "
                  f"| {f'{per:,.0f}' if per is not None else '–'} | {diff} |")
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
    w("## Targets (issue 19)")
    w("")
    w("| target | measured | met |")
    w("|---|---|---|")
    for name, measured, met in targets(http, echo, idle, stream, extra.get("pair")):
        w(f"| {name} | {measured} | {'yes' if met else '**no**'} |")
    w("")
    w("Reproduce: `bench/run.sh` (see the header of the script for its settings).")
    return "\n".join(out) + "\n"


def h2_section(extra, http, echo):
    """HTTP/2 `GET /status` next to its ceiling and to duplex's own HTTP/1.1 row of the same run,
    and the WebSocket echo over HTTP/2 next to duplex's HTTP/1.1 echo."""
    h2, echo_h2 = extra.get("h2") or {}, extra.get("echo_h2") or {}
    if not (h2 or echo_h2):
        return []
    out = ["## HTTP/2", ""]
    w = out.append
    if h2:
        w("| transport | request | duplex CPU µs/req | ceiling CPU µs/req | duplex ÷ ceiling (CPU) "
          "| duplex over HTTP/1.1 (wrk, same run) CPU µs/req | duplex req/s | ceiling req/s "
          "| mean / max ms: duplex | ceiling |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        lat = lambda x: f"{x['mean_ms']:.2f} / {x['max_ms']:.2f}" if x and x.get("mean_ms") is not None else "–"
        for transport, label in (("plain", "h2c"), ("tls", "TLS (h2)")):
            for endpoint in ENDPOINTS:
                d = h2.get(("duplex", transport, endpoint), {})
                c = h2.get(("ceiling-h2", transport, endpoint), {})
                if not (d or c):
                    continue
                h1 = http.get(("duplex", transport, "keep-alive", endpoint), {})
                note = ""
                said = lambda x: x.get("error") or ", ".join(
                    f"{n:,} {kind}" for kind, n in (x.get("errors") or {}).items() if n)
                if said(d) or said(c):
                    note = f" ⚠ duplex: {said(d) or 'no errors'}; ceiling: {said(c) or 'no errors'}"
                # h2load falls back to HTTP/1.1 when ALPN does not choose h2: not an HTTP/2 figure.
                spoke = {x.get("protocol") for x in (d, c) if x} - {"h2", "h2c"}
                if spoke:
                    note += f" ⚠ h2load spoke {', '.join(sorted(str(p) for p in spoke))}, not HTTP/2"
                w(f"| {label} | `{endpoint}`{note} | {fmt_us(d.get('cpu'))} | {fmt_us(c.get('cpu'))} "
                  f"| {fmt_ratio(ratio(d.get('cpu'), c.get('cpu')))} | {fmt_us(h1.get('cpu'))} "
                  f"| {fmt_rate(d.get('rps'))} | {fmt_rate(c.get('rps'))} | {lat(d)} | {lat(c)} |")
        w("")
        w("h2load reports no percentiles; the latency columns are its mean and maximum time per request.")
        w("")
    if echo_h2:
        w("### WebSocket echo over HTTP/2 (RFC 8441; 32 connections, 20-byte messages)")
        w("")
        w("| transport | path | CPU µs per round trip | round trips/s | p50 / p99 µs "
          "| duplex over HTTP/1.1, same run (CPU µs) | HTTP/2 ÷ HTTP/1.1 (CPU) |")
        w("|---|---|---:|---:|---:|---:|---:|")
        for transport in ("plain", "tls"):
            for path in ("/ws/mirror", "/ws/echo"):
                run = echo_h2.get(("duplex", transport, path))
                if not run:
                    continue
                h1 = echo.get(("duplex", transport, path), {})
                w(f"| {transport} | `{path}` | {fmt_us(run.get('cpu'))} | {fmt_rate(run.get('round_trips_per_s'))} "
                  f"| {run.get('p50_us', '–')} / {run.get('p99_us', '–')} | {fmt_us(h1.get('cpu'))} "
                  f"| {fmt_ratio(ratio(run.get('cpu'), h1.get('cpu')))} |")
        w("")
    return out


def handshake_section(extra):
    """Full and resumed TLS handshakes: CPU per handshake and handshakes per CPU-second."""
    hs = extra.get("handshake") or {}
    if not hs:
        return []
    out = ["## TLS handshakes", ""]
    w = out.append
    w("| handshake | server | CPU µs per handshake | handshakes per CPU-second | duplex ÷ ceiling (CPU) "
      "| handshakes/s | resumed (all runs) | handshake p50 / p99 ms (client side) |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    names = {"duplex": "duplex", "ceiling": "bare-hyper ceiling"}
    for kind in ("full", "resumed"):
        base = hs.get(("ceiling", kind), {})
        for server in ("duplex", "ceiling"):
            run = hs.get((server, kind))
            if not run:
                continue
            total, resumed = run.get("total", 0), run.get("total_resumed", 0)
            warn = []
            if run.get("failures"):
                warn.append(f"failed: {run['failures'][0]}")
            if run.get("total_errors"):
                warn.append(f"{run['total_errors']:,} connection errors")
            # Each connection's first handshake is full; past that, a resumed row should resume.
            if kind == "resumed" and total and resumed < 0.95 * total:
                warn.append("fewer than 95 % resumed: the figures mix in full handshakes")
            if kind == "full" and resumed:
                warn.append(f"{resumed:,} resumed")
            note = f" ⚠ {'; '.join(warn)}" if warn else ""
            cpu = run.get("cpu")
            lat = (f"{run['p50_us'] / 1000:.2f} / {run['p99_us'] / 1000:.2f}"
                   if run.get("p50_us") is not None and run.get("p99_us") is not None else "–")
            w(f"| {kind}{note} | {names[server]} | {fmt_us(cpu)} | {fmt_rate(1e6 / cpu if cpu else None)} "
              f"| {fmt_ratio(ratio(cpu, base.get('cpu'))) if server == 'duplex' else '–'} "
              f"| {fmt_rate(run.get('handshakes_per_s'))} | {f'{resumed:,} of {total:,}' if total else '–'} "
              f"| {lat} |")
    w("")
    negotiated = next((r.get("negotiated") for r in hs.values() if r.get("negotiated")), None)
    if negotiated:
        w(f"Negotiated: {negotiated}. A resumed TLS 1.3 handshake still does an X25519 exchange "
          "(`psk_dhe_ke`); it saves the certificate and its signature.")
        w("")
    return out


# How a ratio from rounds that took turns is read: the medians beside it are each side's own,
# so their quotient can fall on the other side of 1 than the ratio does.
ROUNDS = "; the ratio is the median of the rounds' ratios"


def targets(http, echo, idle, stream, pairs=None):
    """Each goal of the issue with its figure and whether it is met. Ratios are medians of
    run-by-run ratios where the two sides took turns (see paired_ratio)."""
    found = []
    pairs = pairs or {}
    for t in ("plain", "tls"):
        pair = pairs.get(("duplex", t, "GET /static/data.txt", "GET /status"))
        if pair and pair.get("ratio"):
            x, static_cpu, status_cpu, how = pair["ratio"], pair["a_cpu"], pair["b_cpu"], ", taking turns"
        else:  # results from before the paired row: two rows minutes apart
            status = http.get(("duplex", t, "keep-alive", "GET /status"), {})
            static = http.get(("duplex", t, "keep-alive", "GET /static/data.txt"), {})
            x, static_cpu, status_cpu, how = ratio(static.get("cpu"), status.get("cpu")), static.get("cpu"), status.get("cpu"), ""
        if x:
            found.append((f"{t}: `GET /static/data.txt` ≤ 1.25× `GET /status` (CPU per request)",
                          f"{fmt_ratio(x)} ({fmt_us(static_cpu)} vs {fmt_us(status_cpu)} µs{how})",
                          x <= 1.25))
    for t in ("plain", "tls"):
        d = http.get(("duplex", t, "keep-alive", "GET /status"), {})
        c = http.get(("ceiling", t, "keep-alive", "GET /status"), {})
        paired = paired_ratio(d.get("cpus"), c.get("cpus"))
        x = paired or ratio(d.get("cpu"), c.get("cpu"))
        # The ceiling against a second instance of itself, in the same rounds.
        again = paired_ratio(http.get(("ceiling-b", t, "keep-alive", "GET /status"), {}).get("cpus"),
                             c.get("cpus"))
        if x:
            found.append((f"{t}: `GET /status` ≤ 1.05× the bare-hyper ceiling (CPU per request)",
                          f"{fmt_ratio(x)} ({fmt_us(d.get('cpu'))} vs {fmt_us(c.get('cpu'))} µs"
                          f"{ROUNDS if paired else ''}"
                          f"{f'; the ceiling against itself: {fmt_ratio(again)}' if again else ''})",
                          x <= 1.05))
    for t in ("plain", "tls"):
        d = echo.get(("duplex", t, "/ws/mirror"), {})
        libs = [(name, echo.get((name, t, "/ws/mirror"), {})) for name in ("tungstenite", "fastwebsockets")]
        libs = [(n, v) for n, v in libs if v.get("cpu")]
        if d.get("cpu") and libs:
            name, cheapest = min(libs, key=lambda x: x[1]["cpu"])
            paired = paired_ratio(d.get("cpus"), cheapest.get("cpus"))
            x = paired or ratio(d["cpu"], cheapest["cpu"])
            # The library against a second instance of itself, in the same rounds.
            again = paired_ratio(echo.get((f"{name}-b", t, "/ws/mirror"), {}).get("cpus"), cheapest.get("cpus"))
            found.append((f"{t}: WebSocket echo cheaper per round trip than the cheapest bare library",
                          f"{fmt_ratio(x)} (duplex {fmt_us(d['cpu'])} µs vs {name} {fmt_us(cheapest['cpu'])} µs"
                          f"{ROUNDS if paired else ''}"
                          f"{f'; {name} against itself: {fmt_ratio(again)}' if again else ''})",
                          x < 1))
    for t in ("plain", "tls"):
        d = http.get(("duplex", t, "keep-alive", "GET /status"), {})
        c = http.get(("ceiling", t, "keep-alive", "GET /status"), {})
        x = ratio(d.get("p99_ms"), c.get("p99_ms"))
        if x:
            found.append((f"{t}: `GET /status` p99 at 64 connections ≤ 1.5× the ceiling's",
                          f"{fmt_ratio(x)} ({d['p99_ms']:.2f} vs {c['p99_ms']:.2f} ms)", x <= 1.5))
    for kind in ("plain", "tls"):
        d = (idle.get(("duplex", kind)) or {}).get("bytes_per_connection")
        c = (idle.get(("ceiling", kind)) or {}).get("bytes_per_connection")
        if d is not None and c is not None:
            found.append((f"{kind}: RSS per idle keep-alive connection ≤ the ceiling's + 2 KiB",
                          f"{d:,.0f} vs {c:,.0f} bytes ({d - c:+,.0f})", d <= c + 2048))
    rows = [r for r in http_rows(http) if r["mode"] == "keep-alive" and r["f"]]
    if rows:
        ratios = [(r, ratio(r["f"].get("cpu"), r["d"].get("cpu"))) for r in rows]
        worst = min(ratios, key=lambda x: x[1] or 0)
        found.append(("HTTP keep-alive, every endpoint, plain and TLS: duplex ≥ 20× cheaper than FastAPI (CPU)",
                      f"lowest {fmt_ratio(worst[1])} ({worst[0]['transport']} `{worst[0]['endpoint']}`)",
                      all(x and x >= 20 for _, x in ratios)))
    for server, s in stream:
        if server == "duplex" and s.get("subscribers") == max(
                (t.get("subscribers", 0) for srv, t in stream if srv == "duplex"), default=0):
            found.append((f"`/ws/stream`: {s.get('subscribers', 0):,} subscribers, every tick within 100 ms",
                          f"{s.get('lost', '–')} lost, {s.get('late', '–')} late, max {s.get('max_ms', '–')} ms",
                          bool(s.get("on_time"))))
    return found


def svg(http, echo, idle, stream, extra=None):
    """Two panels of horizontal bars, both from CPU time per request: FastAPI ÷ duplex (how many
    times cheaper duplex is; log scale) and duplex ÷ its bare-library ceiling (linear; lower is
    better). A bar with a target carries a red mark there and is blue when it meets it, orange
    when not; bars without a target are grey."""
    bars, ceil_bars = [], []
    for r in http_rows(http):
        label = f"{r['transport']} {r['mode']} {r['endpoint']}"
        keep_alive = r["mode"] == "keep-alive"
        x = ratio(r["f"].get("cpu"), r["d"].get("cpu"))
        if x:
            bars.append((label, x, 20 if keep_alive else None, True))
        x = ratio(r["d"].get("cpu"), r["c"].get("cpu"))
        if x:
            ceil_bars.append((label, x, 1.05 if keep_alive else None, False))
    for transport in ("plain", "tls"):
        d, f = echo.get(("duplex", transport, "/ws/echo")), echo.get(("fastapi", transport, "/ws/echo"))
        x = d and f and ratio(f.get("cpu"), d.get("cpu"))
        if x:
            bars.append((f"{transport} WebSocket echo", x, None, True))
        d = echo.get(("duplex", transport, "/ws/mirror"), {})
        libs = [echo.get((n, transport, "/ws/mirror"), {}).get("cpu") for n in ("tungstenite", "fastwebsockets")]
        libs = [v for v in libs if v]
        x = d.get("cpu") and libs and ratio(d.get("cpu"), min(libs))
        if x:
            ceil_bars.append((f"{transport} WebSocket echo ÷ cheapest library", x, 1.0, False))
    # HTTP/2 and handshakes have no target yet: grey bars.
    extra = extra or {}
    for transport, label in (("plain", "plain h2c"), ("tls", "tls h2")):
        d = (extra.get("h2") or {}).get(("duplex", transport, "GET /status"), {})
        c = (extra.get("h2") or {}).get(("ceiling-h2", transport, "GET /status"), {})
        x = ratio(d.get("cpu"), c.get("cpu"))
        if x:
            ceil_bars.append((f"{label} GET /status", x, None, False))
    for kind in ("full", "resumed"):
        hs = extra.get("handshake") or {}
        x = ratio(hs.get(("duplex", kind), {}).get("cpu"), hs.get(("ceiling", kind), {}).get("cpu"))
        if x:
            ceil_bars.append((f"tls {kind} handshake", x, None, False))

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
        for label, value, target, higher_is_better in items:
            text(label_w - 8, y + bar_h - 5, label, anchor="end")
            wdt = max(1.0, scale(value))
            met = target is not None and (value >= target if higher_is_better else value <= target)
            color = "#999" if target is None else ("#2b7bb9" if met else "#d9822b")
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
        top_value = max(100.0, max(v for _, v, _, _ in bars) * 1.2)
        log_scale = lambda v: plot_w * math.log10(max(v, 1.0)) / math.log10(top_value)
        panel("FastAPI ÷ duplex, CPU per request (log scale; red mark: target)", bars, log_scale,
              lambda v: f"{v:.0f}×" if v >= 10 else f"{v:.1f}×", [1, 10, 100])
    if ceil_bars:
        lin = lambda v: plot_w * min(v, 2.0) / 2.0
        panel("duplex ÷ bare-library ceiling, CPU per request (lower is better; red mark: target)",
              ceil_bars, lin, lambda v: f"{v:.2f}×", [1.0, 1.5, 2.0])
    height = y + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="white"/>' + "".join(parts) + "</svg>\n")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results")
    p.add_argument("markdown")
    p.add_argument("svg")
    p.add_argument("--pipeline", type=int, default=16, help="the pipelined rows' depth")
    p.add_argument("--h2", default="64/10", help="h2load's connections/streams, as C/M")
    p.add_argument("--handshake-connections", type=int, default=32,
                   help="duplex bench handshake's connections")
    p.add_argument("--readme", help="a README whose targets table (between the "
                   f"'{README_START}' and '{README_END}' lines) is rewritten from the results")
    args = p.parse_args()
    http, echo, idle, stream, meta, extra = load(args.results)
    with open(args.markdown, "w") as f:
        f.write(markdown(http, echo, idle, stream, meta, args.pipeline, extra, args.h2,
                         args.handshake_connections))
    with open(args.svg, "w") as f:
        f.write(svg(http, echo, idle, stream, extra))
    if args.readme:
        rewrite_readme(args.readme, targets(http, echo, idle, stream, extra.get("pair")), meta)


README_START = "<!-- bench targets: written by bench/report.py -->"
README_END = "<!-- end of bench targets -->"


def rewrite_readme(path, found, meta):
    """Replaces the README's targets table with this run's, so the two never disagree."""
    with open(path) as f:
        text = f.read()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: no '{README_START}' ... '{README_END}' block to rewrite")
    lines = [README_START, "",
             f"The last run, finished {meta.get('finished', '?')} "
             "(full tables, latencies and the machine in [bench/results.md](bench/results.md)):", "",
             "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {'yes' if met else '**no**'} |" for name, measured, met in found]
    lines += ["", ""]
    with open(path, "w") as f:
        f.write(text[:start] + "\n".join(lines) + text[end:])


if __name__ == "__main__":
    main()
