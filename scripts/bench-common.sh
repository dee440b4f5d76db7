# Shared by the benchmark scripts: build, seed once, serve, sign in, replay with wrk.
# Source it after setting: customers, GRIDCRM_DATA_DIR, and (optionally) seed_args.
set -euo pipefail
export GRIDCRM_LOG=${GRIDCRM_LOG:-warn}
unset GRIDCRM_DATABASE_URL
duration=${BENCH_DURATION:-30s}
connections=${BENCH_CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

# BENCH_BIN runs another build (e.g. target/debug/gridcrm for a quick check
# of a script; its figures mean nothing).
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  cargo build --release --quiet
  bin=target/release/gridcrm
fi
work=$(mktemp -d)
server=
# A script that starts more (bench-citus: database nodes) defines bench_on_exit.
trap 'if [ -n "$server" ]; then kill $server 2>/dev/null || true; fi; wait 2>/dev/null || true
      if declare -F bench_on_exit >/dev/null; then bench_on_exit; fi; rm -rf "$work"' EXIT

# Seeds once per data directory and argument list.
seed_once() {
  local marker="$GRIDCRM_DATA_DIR/seeded-$(echo "$*" | tr ' -' '_.')"
  if [ ! -f "$marker" ]; then
    echo "== seeding into $GRIDCRM_DATA_DIR: seed --demo $*"
    /usr/bin/time -f "seeding took %e s" $bin seed --demo "$@"
    touch "$marker"
  fi
}

# The pages' benchmarks serve from a request-only process (job_workers and
# notice_dispatchers 0, as docs/operations.md describes for several serve
# processes): right after a seed its job workers would build a million
# customers' metrics, values and segments for many minutes, on the same two
# cores, during whichever of the measurements they overlap. Call before
# start_server.
request_only_server() {
  export GRIDCRM_JOB_WORKERS=0 GRIDCRM_NOTICE_DISPATCHERS=0
}

start_server() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  GRIDCRM_MAX_CONNECTIONS=${BENCH_POOL:-32} $bin serve --bind "127.0.0.1:$port" > "$work/server.log" 2>&1 &
  server=$!
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 120); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
}

# Signs in as USER of the demo tenant hangzhou, as a browser would; sets $session.
sign_in() {
  local jar="$work/cookies-$1" csrf
  csrf=$(curl -fs -c "$jar" "$base/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
  curl -fs -b "$jar" -c "$jar" -o /dev/null -d "csrf=$csrf&tenant=hangzhou&username=$1&password=gridcrm-demo" "$base/login"
  session=$(awk '$6 == "gridcrm_session" {print $7}' "$jar")
  [ -n "$session" ] || { echo "could not sign in as $1" >&2; exit 1; }
}

cat > "$work/replay.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("TARGETS")) do paths[#paths + 1] = line end
local headers = { ["Cookie"] = "gridcrm_session=" .. os.getenv("SESSION") }
if os.getenv("HTMX") == "1" then headers["HX-Request"] = "true" end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i * 7919) % #paths + 1], headers)
end
LUA

# run NAME TARGETS-FILE HTMX(0|1) [CONNECTIONS]; RUN_LUA replaces the
# replay script (the portal's rotates customers' sessions).
run() {
  local name=$1 targets=$2 htmx=$3 conns=${4:-$connections} lua=${RUN_LUA:-$work/replay.lua}
  local threads=$(( conns < 2 ? conns : 2 ))
  echo "== $name: wrk -t$threads -c$conns -d$duration ($(wc -l < "$targets") distinct requests)"
  # A short warm-up, then the measured run.
  TARGETS=$targets SESSION=${session:-} HTMX=$htmx wrk -t$threads -c"$conns" -d5s -s "$lua" "$base" >/dev/null
  TARGETS=$targets SESSION=${session:-} HTMX=$htmx wrk -t$threads -c"$conns" -d"$duration" --latency -s "$lua" "$base"
}

# The ceiling (bench-ceiling: one customer by account number, one indexed
# query, no session) as a second server; sets $cbase. stop_ceiling ends it.
start_ceiling() {
  local cport
  cport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  $bin bench-ceiling --tenant hangzhou --bind "127.0.0.1:$cport" --connections "${BENCH_POOL:-32}" > "$work/ceiling.log" 2>&1 &
  ceiling=$!
  cbase="http://127.0.0.1:$cport"
  for _ in $(seq 1 120); do curl -fs -o /dev/null "$cbase/c/$(head -1 "$1" | cut -d/ -f3)" && break; sleep 0.5; done
}

stop_ceiling() {
  kill $ceiling 2>/dev/null || true; wait $ceiling 2>/dev/null || true
}

# ratio NAME PAGE-OUT CEILING-OUT TARGET: prints both and the ratio of their requests per second.
ratio() {
  python3 - "$@" <<'PY'
import re, sys
def figures(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)
    return rps, p99
name, page, ceiling, target = sys.argv[1], figures(sys.argv[2]), figures(sys.argv[3]), sys.argv[4]
print(f"== {name} {page[0]:.0f} req/s (p99 {page[1]}), ceiling {ceiling[0]:.0f} req/s (p99 {ceiling[1]})")
print(f"== ratio: the {name} serves {page[0] / ceiling[0]:.2f} of the ceiling's requests per second ({target})")
PY
}

# The customer page against its ceiling, in the same run, so the ratio does
# not depend on the machine. Needs $work/customers.txt and $work/ceiling.txt
# (bench-targets), a started server and a signed-in session.
compare_with_ceiling() {
  start_ceiling "$work/ceiling.txt"
  run "customer page (against the ceiling)" "$work/customers.txt" 0 | tee "$work/page.out"
  local saved=$base; base=$cbase
  run "ceiling: one customer by account number, one indexed query" "$work/ceiling.txt" 0 | tee "$work/ceiling.out"
  base=$saved
  stop_ceiling
  ratio "customer page" "$work/page.out" "$work/ceiling.out" "target >= 0.25, p99 < 30 ms"
}

# measure_vip_list CONNECTIONS INDUSTRY...: the VIP list page under wrk (its
# sorts both ways, the industries given, a tier and the movement filter),
# signed in as the demo's account manager, after the bare page (the
# not-found page of a signed-in user: session, layout, no data) measured the
# same way as its ceiling. Needs a started server.
measure_vip_list() {
  local conns=$1; shift
  sign_in manager
  : > "$work/vip.txt"
  for sort in energy_12m revenue_12m arrears score name; do
    for dir in asc desc; do echo "/accounts/vip?sort=$sort&dir=$dir" >> "$work/vip.txt"; done
  done
  for industry in "$@"; do echo "/accounts/vip?industry=$industry" >> "$work/vip.txt"; done
  echo "/accounts/vip?tier=high" >> "$work/vip.txt"
  echo "/accounts/vip?movement=any" >> "$work/vip.txt"
  echo "/no-such-page" > "$work/bare.txt"
  run "bare page (the ceiling: session, layout, no data)" "$work/bare.txt" 0 "$conns" | tee "$work/bare.out"
  run "VIP list page (sorts, filters)" "$work/vip.txt" 0 "$conns" | tee "$work/vip.out"
  ratio "VIP list page" "$work/vip.out" "$work/bare.out" "target: p99 < 50 ms"
}
