#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz into build-fuzz/ (clang, sanitizers) and runs each for SECONDS
# (default 60), printing per harness its executions, executions per second and new findings. Exit 1 on a finding.
# Usage: launch/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
bash launch/setup-deps.sh

build=build-fuzz
configure=(-S . -B "$build" -DDIVERGE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang)
command -v ninja >/dev/null && configure+=(-G Ninja)
command -v ccache >/dev/null && configure+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
[ -f "$build/CMakeCache.txt" ] || cmake "${configure[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" | grep -v '^\[' || true

# A stat line of a libFuzzer log, e.g. "stat::number_of_executed_units: 1234" -> 1234 ("-" when absent).
stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1 | grep . || echo -; }

found=0
printf '%-18s %12s %8s %8s  %s\n' harness executions exec/s findings log
for source in tests/fuzz/fuzz_*.cpp; do
  harness=$(basename "$source" .cpp)
  name=${harness#fuzz_}
  corpus="$build/corpus/$name" findings="$build/findings/$name" log="$build/logs/$name.log"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  inputs=("$corpus" "tests/fuzz/seeds/$name")
  [ -d "tests/fuzz/regressions/$name" ] && inputs+=("tests/fuzz/regressions/$name")
  before=$(find "$findings" -type f | wc -l)
  # A finding stops the harness (libFuzzer exits non-zero); the run goes on to the next one.
  "$build/tests/fuzz/$harness" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" "${inputs[@]}" >"$log" 2>&1 || true
  new=$(( $(find "$findings" -type f | wc -l) - before ))
  found=$(( found + new ))
  printf '%-18s %12s %8s %8s  %s\n' "$name" "$(stat number_of_executed_units "$log")" \
    "$(stat average_exec_per_sec "$log")" "$new" "$log"
done
if [ "$found" -gt 0 ]; then
  echo "fuzz: $found new finding(s) under $build/findings/ (the logs say what; keep each, once fixed, under" \
    "tests/fuzz/regressions/)"
  exit 1
fi
echo "fuzz: no findings"
