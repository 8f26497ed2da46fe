#!/usr/bin/env bash
# The offline path against an analyst's query: `sluice score` and `sluice backtest` over a
# generated company's events file (JSON Lines), and DuckDB reading the same file and summing
# the same engagement rules' decayed points per lead, in the same run.
#
#   benches/offline.sh            # 50,000 leads (1.97 M messages, 1.15 GB), best of 3 runs
#   LEADS=5000 RUNS=1 benches/offline.sh
#   BEFORE=/tmp/sluice-old benches/offline.sh   # also times another build of sluice
#
# Needs cargo and python3 (DuckDB is installed from PyPI into a virtual environment under the
# target directory). Data and the environment are kept there between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

LEADS=${LEADS:-50000}
RUNS=${RUNS:-3}
AS_OF=2026-12-01
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$TARGET/bench-offline
DATA=$WORK/company-$LEADS
MODEL=examples/model.toml

cargo build --release -p sluice
SLUICE=$TARGET/release/sluice
if [ ! -s "$DATA/events.jsonl" ]; then
  "$SLUICE" generate --leads "$LEADS" --seed 42 --end "$AS_OF" --out "$DATA" > /dev/null
fi
if [ ! -x "$WORK/venv/bin/python" ] || ! "$WORK/venv/bin/python" -c 'import duckdb' 2> /dev/null; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet duckdb
fi

EVENTS=$DATA/events.jsonl
MESSAGES=$(wc -l < "$EVENTS")
BYTES=$(wc -c < "$EVENTS")
# Every contender reads the file from the page cache.
cat "$EVENTS" > /dev/null

# The engagement rules of examples/model.toml as an analyst would write them: a table of rules
# (event name, `*` for any event; points; half-life in days, NULL for never) and their conditions
# on the page path and the campaign. DuckDB sums each matching event's points halved every
# half-life up to --as-of, per lead (`userId`, else `anonymousId`). What it leaves out and Sluice
# does: identity links (aliases, anonymous ids joined to their lead), cooldowns, once_per, caps,
# fit, grades, stages.
DUCKDB_QUERY=$(cat <<SQL
WITH rules(rule, name, points, half_life_days) AS (VALUES
  ('demo-request', 'Demo Requested', 50, 60::DOUBLE),
  ('trial-started', 'Trial Started', 40, 45),
  ('pricing-page', 'page', 15, 30),
  ('docs-page', 'page', 5, 30),
  ('security-page', 'page', 10, 30),
  ('case-study', 'Case Study Viewed', 5, 30),
  ('whitepaper', 'Whitepaper Downloaded', 10, 30),
  ('webinar-attended', 'Webinar Attended', 15, 30),
  ('webinar-registered', 'Webinar Registered', 5, 30),
  ('blog-visit', 'page', 2, 30),
  ('email-click', 'Email Clicked', 3, 14),
  ('paid-campaign-visit', 'page', 1, 30),
  ('partner-referred', '*', 10, 30),
  ('careers-page', 'page', -10, NULL),
  ('unsubscribed', 'Unsubscribed', -20, 90)
),
events AS (
  SELECT coalesce(userId, anonymousId) AS id,
         CASE WHEN type = 'track' THEN event ELSE type END AS name,
         properties.path AS path,
         context.campaign.medium AS medium,
         context.campaign.source AS source,
         epoch_ms(TIMESTAMPTZ '${AS_OF} 00:00:00+00') - epoch_ms("timestamp") AS age_ms
  FROM read_json('${EVENTS}', format = 'newline_delimited', columns = {
    type: 'VARCHAR', event: 'VARCHAR', userId: 'VARCHAR', anonymousId: 'VARCHAR',
    "timestamp": 'TIMESTAMPTZ', properties: 'STRUCT(path VARCHAR)',
    context: 'STRUCT(campaign STRUCT(medium VARCHAR, source VARCHAR))'})
  WHERE epoch_ms("timestamp") <= epoch_ms(TIMESTAMPTZ '${AS_OF} 00:00:00+00')
),
hits AS (
  SELECT e.id, r.points, r.half_life_days, e.age_ms
  FROM events e JOIN rules r ON r.name = e.name OR r.name = '*'
  WHERE CASE r.rule
    WHEN 'pricing-page' THEN starts_with(e.path, '/pricing')
    WHEN 'docs-page' THEN starts_with(e.path, '/docs/')
    WHEN 'security-page' THEN regexp_matches(e.path, '^/product/(security|sso|audit)')
    WHEN 'blog-visit' THEN starts_with(e.path, '/blog/')
    WHEN 'paid-campaign-visit' THEN e.medium IN ('cpc', 'paid_social')
    WHEN 'partner-referred' THEN e.source = 'partner'
    WHEN 'careers-page' THEN starts_with(e.path, '/careers')
    ELSE true END
)
SELECT id, sum(points * CASE WHEN half_life_days IS NULL THEN 1
                             ELSE pow(2, -age_ms / (half_life_days * 86400000.0)) END) AS engagement
FROM hits GROUP BY id
SQL
)

seconds() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$@"; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
rate() { python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]) / 1e6:.2f} M")' "$MESSAGES" "$1"; }

# Runs a command RUNS times; prints its best time in seconds.
time_best() {
  local times=() start end
  for _ in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    "$@" > /dev/null
    end=$(date +%s.%N)
    times+=("$(seconds "$start" "$end")")
  done
  echo "$(best "${times[@]}") (runs: ${times[*]})"
}

score() {
  "${1:-$SLUICE}" score --model "$MODEL" --leads "$DATA/leads.csv" --accounts "$DATA/accounts.csv" \
    --events "$EVENTS" --as-of "$AS_OF" --format json
}
backtest() {
  "${1:-$SLUICE}" backtest --model "$MODEL" --leads "$DATA/leads.csv" --accounts "$DATA/accounts.csv" \
    --events "$EVENTS" --outcomes "$DATA/outcomes.csv" --format json
}
duckdb_sums() {
  "$WORK/venv/bin/python" - "$DUCKDB_QUERY" <<'PY'
import sys, duckdb
db = duckdb.connect()
db.execute("SET enable_progress_bar = false")
rows = db.execute(sys.argv[1]).fetchall()
print(len(rows), "ids")
PY
}

echo "data: $LEADS leads, $MESSAGES messages, $((BYTES / 1000000)) MB of JSON Lines ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"
echo "duckdb $("$WORK/venv/bin/python" -c 'import duckdb; print(duckdb.__version__)')"
if [ -n "${BEFORE:-}" ]; then
  s=$(time_best score "$BEFORE"); echo "before: score     ${s%% *} s  $(rate "${s%% *}") messages/s  ${s#* }"
  b=$(time_best backtest "$BEFORE"); echo "before: backtest  ${b%% *} s  $(rate "${b%% *}") messages/s  ${b#* }"
fi
s=$(time_best score); echo "sluice score:     ${s%% *} s  $(rate "${s%% *}") messages/s  ${s#* }"
b=$(time_best backtest); echo "sluice backtest:  ${b%% *} s  $(rate "${b%% *}") messages/s  ${b#* }"
d=$(time_best duckdb_sums); echo "duckdb read_json: ${d%% *} s  $(rate "${d%% *}") messages/s  ${d#* }"
