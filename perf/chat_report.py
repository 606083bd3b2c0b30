#!/usr/bin/env python3
"""Rewrites the chat blocks of BENCHMARKS.md (chat-settings, chat,
chat-ratios) and perf/chat.svg from perf/results/chat.json, which
perf/src/bin/chat.rs writes. Standard library only."""
import json
import os

from report import replace_block

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLORS = {"hybi": "#2563eb", "hybi-deflate": "#93c5fd", "node": "#16a34a", "node-deflate": "#86efac"}


def fmt_rate(x):
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.0f} k/s"


def fmt_bytes(x):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:.1f} {unit}"
    return f"{x} B"


def fmt_ms(us):
    return f"{us / 1000:.0f} ms" if us >= 10000 else f"{us / 1000:.1f} ms"


def table(rows):
    out = ["| members | server | join time | received during joins | delivered (sent × members) | disconnected "
           "| deliveries/s | server CPU per delivery | latency p50 / p99 | memory per member |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        delivered = f"{r['delivered']:,} of {r['expected']:,} ({100 * r['delivered'] / r['expected']:.0f}%)"
        out.append(
            f"| {r['members']:,} | {r['server']} | {r['join_s']:.2f} s | {fmt_bytes(r['join_wire_bytes'])} "
            f"| {delivered} | {r['disconnected']} | {fmt_rate(r['deliveries_per_s'])} "
            f"| {r['server_cpu_us_per_delivery']:.2f} µs | {fmt_ms(r['p50_us'])} / {fmt_ms(r['p99_us'])} "
            f"| {r['kib_per_member']:.1f} KiB |")
    return "\n".join(out)


def ratios(rows):
    by = {(r["server"], r["members"]): r for r in rows}
    out = ["| members | A vs B | join time (B / A) | deliveries/s (A / B) | server CPU per delivery (B / A) "
           "| p99 latency (B / A) | memory per member (B / A) |",
           "|---|---|---|---|---|---|---|"]
    for members in sorted({r["members"] for r in rows}):
        for ours, theirs in (("hybi", "node"), ("hybi-deflate", "node-deflate"), ("hybi-deflate", "hybi")):
            a, b = by.get((ours, members)), by.get((theirs, members))
            if not a or not b:
                continue
            out.append(
                f"| {members:,} | {ours} vs {theirs} | **{b['join_s'] / a['join_s']:.2f}x** "
                f"| **{a['deliveries_per_s'] / b['deliveries_per_s']:.2f}x** "
                f"| {b['server_cpu_us_per_delivery'] / a['server_cpu_us_per_delivery']:.2f}x "
                f"| {b['p99_us'] / max(a['p99_us'], 1):.2f}x "
                f"| {b['kib_per_member'] / a['kib_per_member']:.2f}x |")
    return "\n".join(out)


def chart(rows, path):
    """One panel per measure, grouped by room size, one bar per server;
    bars scaled to the largest value in each group."""
    servers = [s for s in ["hybi", "node", "hybi-deflate", "node-deflate"] if any(r["server"] == s for r in rows)]
    panels = [("deliveries per second, all members speaking at once (longer is better)", "deliveries_per_s", fmt_rate),
              ("join time (shorter is better)", "join_s", lambda v: f"{v:.2f} s"),
              ("server memory per member (shorter is better)", "kib_per_member", lambda v: f"{v:.0f} KiB")]
    sizes = sorted({r["members"] for r in rows})
    by = {(r["server"], r["members"]): r for r in rows}
    bar, gap, label_w, plot_w = 9, 10, 110, 420
    y, body = 30, []
    for title, key, fmt in panels:
        body.append(f'<text x="10" y="{y + 14}" font-size="13" font-weight="bold">{title}</text>')
        y += 24
        for size in sizes:
            present = [s for s in servers if (s, size) in by]
            top = max(by[(s, size)][key] for s in present)
            body.append(f'<text x="{label_w - 6}" y="{y + bar * len(present) / 2 + 4}" font-size="11" '
                        f'text-anchor="end">{size:,} members</text>')
            for s in present:
                v = by[(s, size)][key]
                w = v / top * plot_w if top else 0
                body.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 1}" fill="{COLORS[s]}">'
                            f'<title>{s}: {fmt(v)}</title></rect>')
                body.append(f'<text x="{label_w + w + 3:.1f}" y="{y + bar - 1}" font-size="9">{fmt(v)}</text>')
                y += bar
            y += gap
        y += 8
    x = 10
    for s in servers:
        body.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{COLORS[s]}"/>')
        body.append(f'<text x="{x + 16}" y="{y + 10}" font-size="11">{s}</text>')
        x += 16 + len(s) * 7 + 14
    height, width = y + 30, label_w + plot_w + 90
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           '<text x="10" y="18" font-size="13">Chat: examples/chat.rs (hybi) vs a Node ws chat, same protocol, one core each</text>']
    svg += body + ["</svg>"]
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def main():
    with open(os.path.join(HERE, "results", "chat.json")) as f:
        data = json.load(f)
    rows = sorted(data["rows"], key=lambda r: (r["members"], ["hybi", "node", "hybi-deflate", "node-deflate"].index(r["server"])))
    s = data["settings"]
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read()
    text = replace_block(text, "chat-settings",
                         f"Last run: rooms of {', '.join(f'{n:,}' for n in s['sizes'])} members; servers "
                         f"{', '.join(s['servers'])} (the deflate variants up to {s['deflate_max']:,} members); "
                         f"{s['cpus']}.")
    text = replace_block(text, "chat", table(rows))
    text = replace_block(text, "chat-ratios", ratios(rows))
    with open(path, "w") as f:
        f.write(text)
    chart(rows, os.path.join(HERE, "chat.svg"))
    print("rewrote the chat blocks of BENCHMARKS.md and perf/chat.svg")


if __name__ == "__main__":
    main()
