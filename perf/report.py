#!/usr/bin/env python3
"""Rewrites the generated parts of BENCHMARKS.md and perf/chart.svg from the
results of a run (perf/results/*.json, perf/results/memory.txt).

Standard library only. Each generated block in BENCHMARKS.md sits between
`<!-- BEGIN name -->` and `<!-- END name -->`; everything else in the file is
left as written. Run by perf/run.sh; can be rerun alone on saved results:

    python3 perf/report.py
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
PEERS = ["tungstenite", "fastwebsockets", "tokio-websockets",
         "websocket-sans-io", "embedded-websocket", "soketto"]
IMPLS = ["hybi"] + PEERS
# hybi read the way a user reads text (`Data::text()` on each chunk); only
# in text decode cases.
HYBI_TEXT = "hybi text()"
# hybi encoding into a buffer the caller lends (Connection::send_into).
HYBI_INTO = "hybi send_into()"
# The end-to-end servers. "hybi" is the tokio adapter (the key older
# results carry); "hybi blocking" is io::blocking, a thread per connection.
HYBI_SERVERS = ["hybi", "hybi blocking"]
E2E_SERVERS = HYBI_SERVERS + ["tokio-tungstenite", "fastwebsockets", "tokio-websockets"]
E2E_NAMES = {"hybi": "hybi tokio"}
COLORS = {
    "hybi": "#d62728",
    "hybi blocking": "#ff7f0e",
    "tungstenite": "#1f77b4",
    "fastwebsockets": "#2ca02c",
    "tokio-websockets": "#9467bd",
    "tokio-tungstenite": "#1f77b4",
    "websocket-sans-io": "#8c564b",
    "embedded-websocket": "#e377c2",
    "soketto": "#7f7f7f",
}
# Which peers check everything RFC 6455 asks of a receiver (masking
# direction, reserved bits, UTF-8, close codes, control frames); filled from
# compare.json's "peers" by main(). A peer missing there counts as strict.
STRICT = {p: True for p in PEERS}


def strict_peers():
    return [p for p in PEERS if STRICT.get(p, True)]


def best_rate(r, peers):
    """The highest message rate among `peers` present in results `r`."""
    rates = [r[p]["msgs_per_s"] for p in peers if p in r]
    return max(rates) if rates else None


def rate_ratio(r, impl, peers):
    b = best_rate(r, peers)
    return r[impl]["msgs_per_s"] / b if b and impl in r else None


def fmt_ratio(x):
    return f"**{x:.2f}x**" if x is not None else ""


def load(name):
    with open(os.path.join(RESULTS, name)) as f:
        return json.load(f)


def fmt_rate(msgs):
    if msgs >= 1e6:
        return f"{msgs / 1e6:.1f} M"
    if msgs >= 1e3:
        return f"{msgs / 1e3:.1f} k"
    return f"{msgs:.0f}"


def fmt_gbs(gbs):
    return f"{gbs:.2f}" if gbs < 10 else f"{gbs:.1f}"


def speed_table(cases, group, baselines):
    """One markdown table: msgs/s and GB/s per implementation, allocations,
    and hybi's ratio to the fastest peer and to the fastest strict peer
    (for text decode, also "hybi text()"'s ratio to the fastest strict
    peer). A blank cell: the implementation was not run on that case."""
    text_col = group == "decode"
    into_col = group.startswith("encode")
    cols = ["hybi"] + ([HYBI_TEXT] if text_col else []) + ([HYBI_INTO] if into_col else []) + PEERS + baselines
    ratios = ["hybi / best peer", "hybi / best strict peer"]
    if text_col:
        ratios.append("hybi text() / best strict peer")
    if into_col:
        ratios.append("hybi send_into() / best peer")
    head = ("| workload | " + " | ".join(cols) + " | " + " | ".join(ratios)
            + " | allocs/msg (hybi; peers) |")
    out = [head, "|" + "---|" * (len(cols) + len(ratios) + 2)]
    for case in cases:
        if case["group"] != group:
            continue
        r = case["results"]
        cells = []
        for c in cols:
            if c in r:
                cells.append(f"{fmt_rate(r[c]['msgs_per_s'])}/s<br>{fmt_gbs(r[c]['gb_per_s'])} GB/s")
            else:
                cells.append("")
        marks = [fmt_ratio(rate_ratio(r, "hybi", PEERS)), fmt_ratio(rate_ratio(r, "hybi", strict_peers()))]
        if text_col:
            marks.append(fmt_ratio(rate_ratio(r, HYBI_TEXT, strict_peers())))
        if into_col:
            marks.append(fmt_ratio(rate_ratio(r, HYBI_INTO, PEERS)))
        allocs = "; ".join(f"{r[c]['allocs_per_msg']:.2g}" if c in r else "-" for c in IMPLS)
        out.append(f"| {case['workload']} | " + " | ".join(cells) + " | " + " | ".join(marks)
                   + f" | {allocs} |")
    return "\n".join(out)


def peers_table(compare):
    """Which receiver checks each peer skips (from compare.json), so the
    tables' "best strict peer" can be read."""
    info = compare.get("peers", {})
    out = ["| peer | strict | skips (RFC 6455 receiver checks it does not make) | note |",
           "|---|---|---|---|"]
    for p in PEERS:
        i = info.get(p, {"strict": True, "skips": [], "note": ""})
        skips = ", ".join(i["skips"]) or "none"
        out.append(f"| {p} | {'yes' if i['strict'] else 'no'} | {skips} | {i.get('note', '')} |")
    return "\n".join(out)


def find(cases, group, workload):
    for c in cases:
        if c["group"] == group and c["workload"] == workload:
            return c["results"]
    return None


def goals_table(compare, e2e, memory):
    cases = compare["cases"]
    rows = []

    def row(goal, measured, target, met):
        rows.append(f"| {goal} | {measured} | {target} | {'met' if met else '**not met**'} |")

    # 1. large masked frames vs memcpy
    for w in ["binary 64 KiB", "binary 1 MiB"]:
        r = find(cases, "decode", w)
        if r:
            ratio = r["hybi"]["msgs_per_s"] / r["memcpy"]["msgs_per_s"]
            row(f"decode {w} vs memcpy", f"{ratio:.2f}x", ">= 0.9x", ratio >= 0.9)
    # 2. every in-process workload at or above the fastest peer, and at or
    #    above the fastest strict peer
    for label, peers in [("fastest peer", PEERS), ("fastest strict peer", strict_peers())]:
        below = []
        worst = None
        total = 0
        for c in cases:
            x = rate_ratio(c["results"], "hybi", peers)
            if c["group"] == "handshake" or x is None:
                continue
            total += 1
            if worst is None or x < worst[0]:
                worst = (x, f"{c['group']} {c['workload']}")
            if x < 1.0:
                below.append(f"{c['group']} {c['workload']} ({x:.2f}x)")
        if worst:
            row(
                f"every in-process workload vs {label}",
                f"{total - len(below)} of {total} at or above; lowest {worst[0]:.2f}x ({worst[1]})",
                ">= 1.0x each",
                not below,
            )
    # 3. small messages vs fastest RFC-checking (strict) peer
    for group in ["decode", "encode client", "encode server"]:
        for w in ["binary 16 B", "binary 125 B"]:
            r = find(cases, group, w)
            x = rate_ratio(r, "hybi", strict_peers()) if r else None
            if x is not None:
                row(f"{group} {w} vs fastest strict peer", f"{x:.2f}x", ">= 1.5x", x >= 1.5)
    # 3b. text as the user reads it (Data::text()) vs the fastest strict peer
    for c in cases:
        x = rate_ratio(c["results"], HYBI_TEXT, strict_peers())
        if c["group"] == "decode" and x is not None:
            row(f"decode {c['workload']} through Data::text() vs fastest strict peer",
                f"{x:.2f}x", ">= 1.0x", x >= 1.0)
    # 4. multibyte text vs unmask + simdutf8
    base_1m = find(cases, "decode", "utf8 1 MiB")
    for w, base in [("utf8 16 KiB", "utf8 16 KiB"), ("utf8 1 MiB", "utf8 1 MiB"),
                    ("utf8 1 MiB / 4 KiB frags", "utf8 1 MiB")]:
        r = find(cases, "decode", w)
        b = find(cases, "decode", base)
        if r and b and "unmask+simdutf8" in b:
            ratio = r["hybi"]["msgs_per_s"] / b["unmask+simdutf8"]["msgs_per_s"]
            row(f"decode {w} vs unmask+simdutf8" + (" (unfragmented)" if base != w else ""),
                f"{ratio:.2f}x", ">= 0.9x", ratio >= 0.9)
    del base_1m
    # 5. allocations
    worst_alloc = max(c["results"]["hybi"]["allocs_per_msg"] for c in cases if c["group"] != "handshake")
    row("heap allocations per message, hybi, every decode and encode workload",
        f"{worst_alloc:.2g} at most", "0", worst_alloc == 0)
    # 6. end to end: each hybi server against the fastest peer server
    if e2e:
        for c in e2e["cases"]:
            r = c["results"]
            for h in HYBI_SERVERS:
                x = e2e_ratios(r, h)
                if x is None:
                    continue
                rate, top, cpu_ratio = x
                measured = f"rate {rate:.2f}x (median round)"
                met = rate >= 1.0
                if top is not None:
                    measured += f", {top:.2f}x (best round)"
                if cpu_ratio is not None:
                    # The rate swings with other work on the shared cores;
                    # the server's CPU time per echo does not, so it decides.
                    cpu = r[h]["server_cpu_us_per_msg"]
                    lowest = cpu * cpu_ratio
                    measured += (f"; server CPU per echo {cpu:.2f} µs vs the lowest peer's "
                                 f"{lowest:.2f} µs ({cpu_ratio:.2f}x)")
                    met = cpu_ratio >= 1.0
                row(f"echo over loopback, {e2e_label(c)}, {e2e_name(h)} vs fastest peer server",
                    measured, ">= 1.0x", met)
    # 7. memory
    if memory:
        row("engine memory per idle connection (server; client)", memory, "measured, reported", True)
    head = "| goal | measured | target | verdict |\n|---|---|---|---|"
    return head + "\n" + "\n".join(rows)


def e2e_name(server):
    return E2E_NAMES.get(server, server)


def e2e_label(case):
    """A case's row name: its kind (binary before the text rows existed)
    and nominal size."""
    return f"{case.get('kind', 'binary')} {case['size']} B"


def e2e_ratios(r, hybi):
    """A hybi server against the fastest peer server in results `r`: its
    median-round rate over the best peer's, its best round over the best
    peer's best round, and the lowest peer's server CPU per echo over its own
    (above 1.0: hybi spends less). None when either side is missing; a part
    is None when the results lack it."""
    peers = [p for p in r if p not in HYBI_SERVERS]
    if hybi not in r or not peers:
        return None
    rate = r[hybi]["msgs_per_s"] / max(r[p]["msgs_per_s"] for p in peers)
    top = cpu = None
    if all("best_msgs_per_s" in r[p] for p in peers + [hybi]):
        top = r[hybi]["best_msgs_per_s"] / max(r[p]["best_msgs_per_s"] for p in peers)
    if all("server_cpu_us_per_msg" in r[p] for p in peers + [hybi]):
        cpu = min(r[p]["server_cpu_us_per_msg"] for p in peers) / r[hybi]["server_cpu_us_per_msg"]
    return rate, top, cpu


def e2e_table(e2e):
    servers = E2E_SERVERS
    heads = [e2e_name(s) for s in servers] + [f"{e2e_name(h)} / best peer" for h in HYBI_SERVERS]
    out = ["| message | " + " | ".join(heads) + " |", "|" + "---|" * (len(heads) + 1)]
    for c in e2e["cases"]:
        r = c["results"]
        cells = [(f"{fmt_rate(r[s]['msgs_per_s'])}/s"
                  + (f" (best {fmt_rate(r[s]['best_msgs_per_s'])}/s)" if 'best_msgs_per_s' in r[s] else "")
                  + f"<br>p50 {r[s]['p50_us']:.0f} µs, p99 {r[s]['p99_us']:.0f} µs"
                  + (f"<br>server CPU {r[s]['server_cpu_us_per_msg']:.1f} µs/msg" if 'server_cpu_us_per_msg' in r[s] else ""))
                 if s in r else "" for s in servers]
        for h in HYBI_SERVERS:
            x = e2e_ratios(r, h)
            if x is None:
                cells.append("")
            else:
                cells.append(f"**{x[0]:.2f}x**" + (f"<br>CPU {x[2]:.2f}x" if x[2] is not None else ""))
        out.append(f"| {e2e_label(c)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def memory_summary():
    path = os.path.join(RESULTS, "memory.txt")
    if not os.path.exists(path):
        return None, None
    text = open(path).read()
    inline = re.search(r"size_of::<Connection>\(\) \(inline\)\s+(\d+) B.*?(\d+) B", text)
    idle = re.search(r"heap open, idle \(after handshake\)\s+(\d+) B.*?(\d+) B", text)
    summary = None
    if inline and idle:
        s = int(inline.group(1)) + int(idle.group(1))
        c = int(inline.group(2)) + int(idle.group(2))
        summary = (f"{s} B; {c} B ({inline.group(1)} B inline + {idle.group(1)} B heap; "
                   f"{inline.group(2)} B + {idle.group(2)} B)")
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith(("running", "test ", "Running"))]
    return summary, "```text\n" + "\n".join(lines) + "\n```"


def chart(compare, e2e, path):
    """Horizontal grouped bars: each implementation's speed relative to the
    fastest peer (1.0 = fastest peer), one panel per group."""
    panels = []
    for group in ["decode", "encode client", "encode server"]:
        rows = [(c["workload"], {i: c["results"][i]["msgs_per_s"] for i in IMPLS if i in c["results"]})
                for c in compare["cases"] if c["group"] == group]
        panels.append((f"{group} (in-process)", IMPLS, rows))
    if e2e:
        servers = E2E_SERVERS
        rows = [(f"echo {e2e_label(c)}", {s: c["results"][s]["msgs_per_s"] for s in servers if s in c["results"]})
                for c in e2e["cases"]]
        panels.append(("end to end over loopback", servers, rows))
    bar, gap, label_w, plot_w, top = 7, 10, 190, 420, 30
    y = top
    body = []
    for title, impls, rows in panels:
        body.append(f'<text x="10" y="{y + 14}" font-size="14" font-weight="bold">{title}</text>')
        y += 24
        y0 = y
        for name, speeds in rows:
            best = max(v for k, v in speeds.items() if k not in HYBI_SERVERS)
            body.append(f'<text x="{label_w - 6}" y="{y + bar * len(impls) / 2 + 4}" font-size="11" text-anchor="end">{name}</text>')
            for i in impls:
                if i not in speeds:
                    y += bar
                    continue
                ratio = speeds[i] / best
                w = min(ratio, 2.5) / 2.5 * plot_w
                body.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 1}" fill="{COLORS[i]}"><title>{i}: {ratio:.2f}x</title></rect>')
                if i in HYBI_SERVERS:
                    body.append(f'<text x="{label_w + w + 3:.1f}" y="{y + bar - 1}" font-size="9">{ratio:.2f}</text>')
                y += bar
            y += gap
        x1 = label_w + plot_w / 2.5
        body.append(f'<line x1="{x1:.1f}" y1="{y0 - 4}" x2="{x1:.1f}" y2="{y - gap + 2}" stroke="#444" stroke-dasharray="3,3"/>')
        y += 10
    legend_y = y + 5
    names = ["hybi (tokio adapter e2e)", "hybi blocking (e2e)", "tungstenite (tokio-tungstenite e2e)",
             "fastwebsockets", "tokio-websockets", "websocket-sans-io", "embedded-websocket", "soketto"]
    keys = ["hybi", "hybi blocking", "tungstenite", "fastwebsockets", "tokio-websockets",
            "websocket-sans-io", "embedded-websocket", "soketto"]
    width = label_w + plot_w + 60
    x = 10
    for name, key in zip(names, keys):
        w = 16 + int(len(name) * 6.2) + 14
        if x > 10 and x + w > width:  # wrap the legend onto a new line
            x = 10
            legend_y += 18
        body.append(f'<rect x="{x}" y="{legend_y}" width="12" height="12" fill="{COLORS[key]}"/>')
        body.append(f'<text x="{x + 16}" y="{legend_y + 10}" font-size="11">{name}</text>')
        x += w
    height = legend_y + 30
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="18" font-size="13">Speed relative to the fastest peer (dashed line = 1.0; bars capped at 2.5)</text>']
    svg += body
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def replace_block(text, name, content):
    pattern = re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n).*?(<!-- END {re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        sys.exit(f"BENCHMARKS.md has no block {name}")
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(2), text)


def main():
    compare = load("compare.json")
    e2e = load("e2e.json") if os.path.exists(os.path.join(RESULTS, "e2e.json")) else None
    memory, memory_block = memory_summary()
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read()
    cases = compare["cases"]
    for p, i in compare.get("peers", {}).items():
        STRICT[p] = i["strict"]
    text = replace_block(text, "peers", peers_table(compare))
    text = replace_block(text, "goals", goals_table(compare, e2e, memory))
    text = replace_block(text, "decode", speed_table(cases, "decode", ["memcpy", "xor loop", "unmask+simdutf8"]))
    text = replace_block(text, "encode-client", speed_table(cases, "encode client", ["memcpy"]))
    text = replace_block(text, "encode-server", speed_table(cases, "encode server", ["memcpy"]))
    hs = [c for c in cases if c["group"] == "handshake"]
    if hs:
        r = hs[0]["results"]["hybi"]
        text = replace_block(text, "handshake",
                             f"hybi, client request + server accept + client verification, in memory: "
                             f"{r['ns_per_msg'] / 1000:.1f} µs per handshake ({fmt_rate(r['msgs_per_s'])}/s), "
                             f"{r['allocs_per_msg']:.0f} allocations.")
    if e2e:
        text = replace_block(text, "e2e", e2e_table(e2e))
    if memory_block:
        text = replace_block(text, "memory", memory_block)
    s = compare["settings"]
    text = replace_block(text, "settings",
                         f"Last run: {s['rounds']} interleaved rounds per case, timed batches of at least "
                         f"{s['batch_ms']} ms, medians" +
                         (f"; end to end {e2e['settings']['rounds']} rounds, {e2e['settings']['connections']} "
                          f"connections, message budget scale {e2e['settings']['scale']}." if e2e else "."))
    with open(path, "w") as f:
        f.write(text)
    chart(compare, e2e, os.path.join(HERE, "chart.svg"))
    print("rewrote BENCHMARKS.md and perf/chart.svg")


if __name__ == "__main__":
    main()
