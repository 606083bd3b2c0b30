#!/usr/bin/env bash
# Reruns every measurement of BENCHMARKS.md and rewrites its tables and
# perf/chart.svg:
#   1. the in-process comparison (compare: hybi and its peers, interleaved),
#   2. the end-to-end echo over loopback (e2e: five servers, one load,
#      binary and text messages),
#   3. the engine's memory per connection (tests/memory.rs),
#   4. perf/report.py on the results,
#   5. the chat (examples/chat.rs, release) against a Node ws chat
#      (perf/chat-node), then perf/chat_report.py (BENCHMARKS.md "Chat",
#      perf/chat.svg); about 15 minutes on its own.
# Usage: perf/run.sh [--criterion | --chat-only | --no-chat]
#   --criterion  also runs the root criterion bench (hybi alone) with short
#                settings; its reports land in the target dir's criterion/.
#   --chat-only  only step 5.
#   --no-chat    steps 1-4 only.
# Environment: HYBI_PERF_TARGET (perf/ build dir, default perf/target),
# CARGO_TARGET_DIR (root build dir), and the knobs documented at the top of
# perf/src/bin/compare.rs and perf/src/bin/e2e.rs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
perf_target="${HYBI_PERF_TARGET:-$here/target}"

echo "== build perf/ (release, fat LTO)"
(cd "$here" && CARGO_TARGET_DIR="$perf_target" cargo build --release --locked --bins)
mkdir -p "$here/results"

chat() {
  echo "== chat: examples/chat.rs against a Node ws chat"
  (cd "$root" && cargo build --release --features tokio --example chat)
  (cd "$here/chat-node" && npm ci --no-audit --no-fund --loglevel=error)
  (cd "$here" && "$perf_target/release/chat")
  python3 "$here/chat_report.py"
}
if [ "${1:-}" = "--chat-only" ]; then
  chat
  exit 0
fi

echo "== in-process comparison"
(cd "$here" && "$perf_target/release/compare")

echo "== end to end over loopback"
(cd "$here" && "$perf_target/release/e2e")

echo "== memory per connection"
(cd "$root" && cargo test --release --all-features --test memory -- --nocapture) \
  | sed -n '/^memory per connection/,/^$/p' > "$here/results/memory.txt"

if [ "${1:-}" = "--criterion" ]; then
  echo "== criterion (hybi alone)"
  (cd "$root" && cargo bench --bench engine -- --warm-up-time 1 --measurement-time 2 --sample-size 10)
fi

python3 "$here/report.py"

if [ "${1:-}" != "--no-chat" ]; then
  chat
fi
