#!/usr/bin/env bash
# The fuzzing run of the management API against its own OpenAPI document: starts `sluice
# serve` on a scratch SQLite database with the demo company, runs schemathesis (every
# operation, the checks and per-operation exceptions of tests/schema/schemathesis.toml),
# stops the service. Exits non-zero on any failure. See docs/schema.md.
#
#   tests/schema/run.sh                  # the CI run (fixed seed)
#   tests/schema/run.sh --seed 7 -n 50   # more, or other, examples: options go to schemathesis
#
# Environment: SLUICE_BIN (default target/debug/sluice, built if missing), SCHEMATHESIS
# (default .ci/venv/bin/schemathesis).
set -euo pipefail
cd "$(dirname "$0")/../.."

sluice="${SLUICE_BIN:-target/debug/sluice}"
schemathesis="${SCHEMATHESIS:-.ci/venv/bin/schemathesis}"
[ -x "$sluice" ] || cargo build -p sluice
[ -x "$schemathesis" ] || {
  echo "schemathesis not found at $schemathesis: pip install -r tests/schema/requirements.txt, or set SCHEMATHESIS" >&2
  exit 1
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
scratch=$(mktemp -d)
token="schema-run-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
# The run subscribes webhooks to whatever URLs it makes up, and the service delivers to them:
# through a proxy on a loopback port where nothing listens, so no delivery leaves this machine.
nowhere="http://127.0.0.1:$(free_port)"
env HTTP_PROXY="$nowhere" http_proxy="$nowhere" HTTPS_PROXY="$nowhere" https_proxy="$nowhere" \
  ALL_PROXY="$nowhere" all_proxy="$nowhere" NO_PROXY= no_proxy= \
  "$sluice" serve --db "sqlite://$scratch/sluice.db" --demo --admin-token "$token" \
  --bind "127.0.0.1:$port" --sla-every never --rescore-every never \
  --auth-failures 0 --token-rate 0 >"$scratch/serve.log" 2>&1 &
service=$!
stop() {
  kill "$service" 2>/dev/null || true
  wait "$service" 2>/dev/null || true
  rm -rf "$scratch"
}
trap stop EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 120); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  kill -0 "$service" 2>/dev/null || { cat "$scratch/serve.log"; echo "sluice serve exited" >&2; exit 1; }
  sleep 1
done
curl -fsS -o /dev/null "$base/readyz" || { cat "$scratch/serve.log"; echo "sluice serve is not ready" >&2; exit 1; }

status=0
"$schemathesis" --no-color --config-file tests/schema/schemathesis.toml run "$base/openapi.json" \
  --header "Authorization: Bearer $token" "$@" || status=$?
if ! kill -0 "$service" 2>/dev/null; then
  echo "sluice serve died during the run:" >&2
  tail -50 "$scratch/serve.log" >&2
  status=1
elif [ "$status" -ne 0 ]; then
  echo "what sluice serve logged as errors during the run:" >&2
  grep -E "ERROR|panicked" "$scratch/serve.log" | tail -20 >&2 || true
fi
exit "$status"
