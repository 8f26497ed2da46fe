#!/usr/bin/env bash
# Runs each fuzz target for a bounded time and fails on any crash (a panic, a failed invariant,
# a time-out or running out of memory), saying where its reproducer is.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s each; model segment csv)
#
# Installs cargo-fuzz if it is missing and builds the targets with the nightly toolchain (or,
# on a machine with only the stable toolchain, with RUSTC_BOOTSTRAP=1). Each target starts
# from the seeds committed in fuzz/seeds/TARGET and what earlier runs found (fuzz/corpus/TARGET,
# not committed). See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2
seconds="${1:-60}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(model segment csv)

# The largest input each target is given: the example model is 12 KB; a Segment message may be
# 32 KB, and a seed sits at that limit; a CSV table's rows are short.
declare -A max_len=([model]=32768 [segment]=65536 [csv]=16384)
# Seeds read from where they are in the repository.
declare -A more_seeds=([model]=../examples)
# Bounds on every run: memory, and the time one input may take (a slow input is a bug too).
rss_limit_mb=2048
timeout_s=20
for target in "${targets[@]}"; do
  [[ -n "${max_len[$target]:-}" ]] || { echo "unknown target: $target (model, segment, csv)" >&2; exit 2; }
done

if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  echo "no nightly toolchain: building with the stable one and RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

# The same dependency versions as the workspace (cargo adds libFuzzer's own).
cp ../Cargo.lock Cargo.lock

echo "building the fuzz targets"
start=$SECONDS
"${fuzz[@]}" build
echo "built in $((SECONDS - start)) s"

mkdir -p logs
failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log="logs/$target.log"
  echo "fuzzing $target for $seconds s (log: fuzz/$log)"
  # libFuzzer adds what it finds to the first directory; the seeds stay as committed.
  if "${fuzz[@]}" run "$target" "corpus/$target" "seeds/$target" ${more_seeds[$target]:-} -- \
    -max_total_time="$seconds" -max_len="${max_len[$target]}" \
    -rss_limit_mb="$rss_limit_mb" -timeout="$timeout_s" -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^Done' "$log" | sed 's/^/  /'
    grep -E '^#[0-9]+.*(cov|ft):' "$log" | tail -n 1 | sed 's/^/  /'
  else
    failed+=("$target")
    echo "FAILED: $target"
    # The panic (or the sanitizer's or libFuzzer's report); the whole output is in the log.
    grep -E -A4 "panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|SUMMARY:" "$log" |
      grep -v -E '^ *#[0-9]+ 0x|^ *[0-9]+: ' | head -n 30 | cut -c1-240 | sed 's/^/  /'
    echo "  the whole output: fuzz/$log"
    sed -n 's|.*Test unit written to .*/fuzz/||p' "$log" | while read -r artifact; do
      echo "  reproducer: fuzz/$artifact"
      echo "  run it again: cd fuzz && ${fuzz[*]} run $target $artifact"
    done
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found crashes in: ${failed[*]}"
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, $seconds s each, no crash"
