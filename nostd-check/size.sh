#!/usr/bin/env bash
# Code size of a minimal hybi server and client with no allocator
# (Connection<Fixed>, default features off), built as this crate's cdylib
# with opt-level "z", fat LTO, one codegen unit and panic=abort, so the
# linker keeps only what the exported entry point reaches. Measured with
# binutils' `size -A` on the host target (the only one this machine has);
# a thumbv7em build would be smaller (32-bit code, no SSE paths).
#
# Usage: nostd-check/size.sh   (prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")"
measure() {
    cargo build --quiet --release --features "$1" >&2
    size -A target/release/libnostd_check.so |
        awk '$1 == ".text" { t = $2 } $1 == ".rodata" { r = $2 } END { print t, r }'
}
read -r base_text base_rodata < <(measure "")
echo "| build (x86_64, opt-level z, LTO) | .text | .rodata | .text over an empty cdylib |"
echo "|---|---|---|---|"
for role in server client "server client"; do
    read -r text rodata < <(measure "$role")
    echo "| ${role/ / + } | $text | $rodata | $((text - base_text)) |"
done
