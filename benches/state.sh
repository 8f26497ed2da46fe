#!/usr/bin/env bash
# The durable state, measured: `sluice serve` start-up until /readyz answers, the serving
# process's memory, and the latency of the funnel, attribution and SLA reports, for generated
# companies of several sizes on SQLite and PostgreSQL (none of them should grow with history);
# then the ingestion load test (crates/sluice-server/examples/load.rs) on both engines.
#
#   bash benches/state.sh                 # 20,000 and 200,000 leads
#   bash benches/state.sh 20000           # one size (any number of sizes)
#
# Environment (all optional):
#   SLUICE_BENCH_DATA     generated companies, kept and reused (default: target/bench-state)
#   SLUICE_BENCH_PG       PostgreSQL server where scratch databases may be created
#                         (default: postgres://postgres@127.0.0.1:5432; "none" skips PostgreSQL)
#   SLUICE_BENCH_ENGINES  engines to measure (default: "sqlite postgres")
#   SLUICE_BENCH_REPEAT   calls per report after the first (default: 10)
#   SLUICE_BENCH_LOAD     messages for the load test (default: 200000; 0 skips it)
#   SLUICE_BENCH_KEEP     1 keeps the imported databases (default: dropped at the end)
#
# Needs cargo, curl and, for PostgreSQL, psql. Each imported database is fresh: a new SQLite
# file, or a new database `sluice_bench_<leads>_<pid>` on the server. Results go to stdout as a
# table and to $SLUICE_BENCH_DATA/results.jsonl, one JSON object per measurement.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(20000 200000)
DATA=${SLUICE_BENCH_DATA:-target/bench-state}
PG=${SLUICE_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
ENGINES=${SLUICE_BENCH_ENGINES:-sqlite postgres}
REPEAT=${SLUICE_BENCH_REPEAT:-10}
LOAD=${SLUICE_BENCH_LOAD:-200000}
KEEP=${SLUICE_BENCH_KEEP:-0}
TARGET=${CARGO_TARGET_DIR:-target}
SLUICE=$TARGET/release/sluice
LOADER=$TARGET/release/examples/load
TOKEN=bench-admin
KEY=wk_bench
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
RESULTS=$DATA/results.jsonl
STARTED=$(date +%s)

say() { printf '[%4ds] %s\n' $(($(date +%s) - STARTED)) "$*" >&2; }
now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

if [[ " $ENGINES " == *" postgres "* ]]; then
    if [ "$PG" = none ]; then
        ENGINES=${ENGINES//postgres/}
    elif ! command -v psql > /dev/null || ! psql "$PG" -Atqc 'SELECT 1' > /dev/null 2>&1; then
        say "PostgreSQL at $PG does not answer (or psql is missing): measuring SQLite only"
        ENGINES=${ENGINES//postgres/}
    fi
fi
pg_url() { # the URL of database $1 on the server $PG
    local server=${PG%%\?*} query=
    [[ "$PG" == *\?* ]] && query="?${PG#*\?}"
    local rest=${server#*://}
    [[ "$rest" == */* ]] && server=${server%/"${rest#*/}"} && server=${server%/}
    echo "$server/$1$query"
}
pg() { PGOPTIONS="-c client_min_messages=warning" psql "$PG" -Atqc "$1" > /dev/null; }

drop_db() { # URL: removes an imported database, unless SLUICE_BENCH_KEEP=1
    [ "$KEEP" = 1 ] && return
    case $1 in
        sqlite://*) rm -f "${1#sqlite://}" "${1#sqlite://}-wal" "${1#sqlite://}-shm" ;;
        *) pg "DROP DATABASE IF EXISTS ${1##*/} WITH (FORCE)" || true ;;
    esac
}
SCRATCH=()
cleanup() {
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2> /dev/null || true
    for db in "${SCRATCH[@]}"; do drop_db "$db"; done
}
trap cleanup EXIT

say "building release: sluice and the load example"
cargo build --release -q -p sluice -p sluice-server --bin sluice --example load
COMMIT=$(git rev-parse --short HEAD 2> /dev/null || echo unknown)
git diff --quiet HEAD 2> /dev/null || COMMIT="$COMMIT+changes"

# One generated company per size, reused by later runs (`.complete` marks a finished one).
company() {
    local dir=$DATA/company-$1
    if [ ! -f "$dir/.complete" ]; then
        say "generating $1 leads into $dir"
        rm -rf "$dir"
        local t=$(now_ns)
        "$SLUICE" generate --leads "$1" --end 2026-10-01 --out "$dir" >&2
        say "generated in $(ms_since "$t") ms"
        touch "$dir/.complete"
    fi
    echo "$dir"
}

# Imports a company into a fresh database: the teams and reps the example model routes to,
# then leads, events and outcomes, as `sluice import` does for a user.
import_company() { # DIR URL
    local dir=$1 db=$2 t
    "$SLUICE" team add sdr --name "Sales development" --time-zone America/New_York --db "$db" > /dev/null
    "$SLUICE" team add ae --name "Account executives" --time-zone Europe/Berlin --db "$db" > /dev/null
    for rep in maya:sdr:25 omar:sdr:25 lucia:sdr:15 jonas:ae:10; do
        IFS=: read -r id team capacity <<< "$rep"
        "$SLUICE" rep add "$id" --name "$id" --email "$id@example.com" --team "$team" \
            --capacity "$capacity" --db "$db" > /dev/null
    done
    for kind in leads events outcomes; do
        local file=$dir/$kind.csv
        [ "$kind" = events ] && file=$dir/events.jsonl
        t=$(now_ns)
        "$SLUICE" import "$kind" "$file" --db "$db" --format json > "$DATA/import-$kind.json"
        local ms rows
        ms=$(ms_since "$t")
        rows=$(grep -o '"imported": *[0-9]*' "$DATA/import-$kind.json" | grep -o '[0-9]*$' || echo '?')
        say "  import $kind: $rows rows in $ms ms"
        IMPORT_MS[$kind]=$ms
        IMPORT_ROWS[$kind]=$rows
    done
}

# GET $1 with the admin token; prints the milliseconds it took and fails unless it is a 200.
timed_get() {
    local out
    out=$(curl -s -o "$DATA/last-report.json" -w '%{http_code} %{time_total}' \
        -H "Authorization: Bearer $TOKEN" "$BASE$1")
    [ "${out%% *}" = 200 ] || { say "GET $1 answered ${out%% *}: $(head -c 300 "$DATA/last-report.json")"; return 1; }
    awk -v s="${out#* }" 'BEGIN { printf "%.1f\n", s * 1000 }'
}
percentile() { # P < values, one a line
    sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p + 0.999999); if (i < 1) i = 1; print v[i] }'
}

declare -A IMPORT_MS IMPORT_ROWS
ROWS=()
SUMMARY=()
REPORTS=("funnel:/api/v1/reports/funnel" "attribution:/api/v1/reports/attribution"
    "sla:/api/v1/reports/sla?from=2000-01-01")

for leads in "${SIZES[@]}"; do
    dir=$(company "$leads")
    events=$(wc -l < "$dir/events.jsonl")
    for engine in $ENGINES; do
        say "== $leads leads ($events events) on $engine"
        if [ "$engine" = sqlite ]; then
            db=sqlite://$DATA/bench-$leads-$$.db
        else
            name=sluice_bench_${leads}_$$
            pg "DROP DATABASE IF EXISTS $name WITH (FORCE)"
            pg "CREATE DATABASE $name"
            db=$(pg_url "$name")
        fi
        SCRATCH+=("$db")
        import_company "$dir" "$db"
        events_per_s=$(awk -v n="${IMPORT_ROWS[events]}" -v ms="${IMPORT_MS[events]}" 'BEGIN { printf "%.0f", n / (ms / 1000) }')

        log=$DATA/serve-$engine-$leads.log
        t=$(now_ns)
        "$SLUICE" serve --db "$db" --bind 127.0.0.1:0 --admin-token "$TOKEN" --write-key "$KEY" \
            --rescore-every never --sla-every never 2> "$log" &
        SERVER=$!
        BASE=
        while :; do
            kill -0 "$SERVER" 2> /dev/null || { say "sluice serve stopped: $(tail -5 "$log")"; exit 1; }
            [ -n "$BASE" ] || BASE=$(sed -n 's/.*running at \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -1)
            if [ -n "$BASE" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ]; then
                break
            fi
            sleep 0.005
        done
        startup_ms=$(ms_since "$t")
        rss_ready=$(rss_kb "$SERVER" VmRSS)
        say "  ready in $startup_ms ms at $BASE, RSS $((rss_ready / 1024)) MB"

        report_json=
        for entry in "${REPORTS[@]}"; do
            report=${entry%%:*} path=${entry#*:}
            first=$(timed_get "$path")
            : > "$DATA/times"
            for _ in $(seq "$REPEAT"); do timed_get "$path" >> "$DATA/times"; done
            p50=$(percentile 0.5 < "$DATA/times")
            p95=$(percentile 0.95 < "$DATA/times")
            bytes=$(wc -c < "$DATA/last-report.json")
            say "  $report: first $first ms, then p50 $p50 ms, p95 $p95 ms ($REPEAT calls, $bytes bytes)"
            report_json+="\"${report}_first_ms\": $first, \"${report}_p50_ms\": $p50, \"${report}_p95_ms\": $p95, "
            ROWS+=("| $leads | $engine | $report | $first | $p50 | $p95 |")
        done
        rss_after=$(rss_kb "$SERVER" VmRSS)
        rss_peak=$(rss_kb "$SERVER" VmHWM)
        say "  RSS after the reports $((rss_after / 1024)) MB, peak $((rss_peak / 1024)) MB"
        kill -INT "$SERVER"
        wait "$SERVER" 2> /dev/null || true
        SERVER=
        SUMMARY+=("| $leads | $engine | $events | $events_per_s | $startup_ms | $((rss_ready / 1024)) | $((rss_after / 1024)) | $((rss_peak / 1024)) |")
        echo "{\"commit\": \"$COMMIT\", \"at\": \"$(date -u +%FT%TZ)\", \"leads\": $leads, \"engine\": \"$engine\", \"events\": $events, \"import_events_per_s\": $events_per_s, \"startup_ms\": $startup_ms, ${report_json}\"rss_ready_kb\": $rss_ready, \"rss_after_reports_kb\": $rss_after, \"rss_peak_kb\": $rss_peak}" >> "$RESULTS"
        drop_db "$db"
    done
done

LOADS=()
if [ "$LOAD" != 0 ]; then
    for engine in $ENGINES; do
        say "== ingestion load test, $LOAD messages, on $engine"
        where=$DATA
        [ "$engine" = postgres ] && where=$PG
        line=$("$LOADER" "$LOAD" "$where" | tail -1)
        echo "{\"commit\": \"$COMMIT\", \"at\": \"$(date -u +%FT%TZ)\", \"load\": $line}" >> "$RESULTS"
        LOADS+=("$line")
    done
fi

echo
echo "Commit $COMMIT, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| leads | engine | events | import events/s | start-up ms | RSS ready MB | RSS after reports MB | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"
echo
echo "| leads | engine | report | first call ms | p50 ms | p95 ms |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if [ ${#LOADS[@]} -gt 0 ]; then
    echo
    printf '%s\n' "${LOADS[@]}"
fi
echo
echo "(also in $RESULTS)"
