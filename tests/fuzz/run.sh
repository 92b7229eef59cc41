#!/bin/sh
# run.sh FUZZER SEEDS SECONDS: runs the libFuzzer target FUZZER for SECONDS on a copy of the
# seed corpus SEEDS (new inputs go to the copy; the seeds in the source tree stay as they are).
# Fails on any crash, leak or sanitizer report; the input that caused it is kept and named.
set -eu
fuzzer=$1 seeds=$2 seconds=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/socklab-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/crashes"
here=$(dirname "$0")
status=0
"$fuzzer" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict="$here/frame.dict" -artifact_prefix="$work/crashes/" -print_final_stats=1 \
    "$work/corpus" "$seeds" || status=$?
if [ "$status" -ne 0 ]; then
    for crash in "$work"/crashes/*; do
        [ -e "$crash" ] || continue
        kept=$(mktemp "${TMPDIR:-/tmp}/socklab-fuzz-crash.XXXXXX")
        cp "$crash" "$kept"
        echo "fuzz: the input that failed is kept in $kept (replay: $fuzzer $kept)" >&2
    done
    exit "$status"
fi
echo "fuzz: no crash in $seconds s"
