#!/usr/bin/env bash
# bench_smoke.sh - the benchmark harness runs: bench/run --smoke runs every
# case at tiny sizes (one run each, peers that are not installed skipped
# and said so) and writes a results page.  No timing is judged here.
. "$(dirname "$0")/../lib/tap.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$TMP/RESULTS.md
log=$TMP/bench.log
start=$(date +%s)
RUNBOOK=$RUNBOOK BUILD_DIR=$BUILD_DIR BENCH_TMP=$TMP "$top/bench/run" --smoke --out "$out" >"$log" 2>&1
rc=$?
took=$(($(date +%s) - start))
is "$rc" 0 "bench/run --smoke completes (exit 0)"
[ "$rc" = 0 ] || diag "$(tail -30 "$log")"
diag "bench-smoke took ${took} s"
ok "[ -s '$out' ]" "it writes the results page"
res=$(cat "$out" 2>/dev/null)
like "$res" '^\*\*Smoke run\*\*' "the page says it is a smoke run"
like "$res" '\| CPUs \(nproc\) \| [0-9]+ \|' "the machine is recorded"
like "$res" '\| runbook \| runbook [0-9]' "the runbook version is recorded"
for c in "1. Per-step overhead" "2. Output capture and matching" "3. SQL through libpq" \
	"4. The database must not wait" "5. Journal" "6. Parsing"; do
	like "$res" "^## $c" "case '$c' has its section"
done
unlike "$res" 'did not complete' "every case completed"
like "$res" '\| 1 \| own overhead per step' "case 1 reports the per-step overhead"
like "$res" '\| 2 \| peak RSS' "case 2 reports the peak RSS"
like "$res" '\| 3 \| .* vs one psql -f \| [0-9.]+x psql -f' "case 3 reports the ratio to psql -f"
like "$res" '\| 4 \| \(b\) longest pgbench wait, runbook \| [0-9.]+ ms' "case 4 reports pgbench's longest wait"
like "$res" '\| 5 \| verify a [0-9]+-line signed journal \| [0-9]+ lines/s' "case 5 reports lines per second"
like "$res" '\| 6 \| runbook check' "case 6 reports the check time"
for peer in cram shelltest bats; do
	if command -v "$peer" >/dev/null 2>&1 || { [ $peer = cram ] && command -v cram3 >/dev/null 2>&1; }; then
		like "$res" "^\\| $peer \\| [0-9.]+ ms" "$peer is measured"
	else
		like "$res" "^\\| $peer \\| not installed" "$peer is not installed: reported as skipped"
	fi
done
ok "[ ! -e '$top/bench/RESULTS.md' ] || ! grep -q '^\*\*Smoke run' '$top/bench/RESULTS.md'" \
	"a smoke run never writes bench/RESULTS.md"
ok "! ls -d '$TMP'/runbook-bench.* >/dev/null 2>&1" "its scratch directory is removed"
sb=$(sed -n 's/.*\] sandbox \(.*\)$/\1/p' "$log" | head -1)
ok "[ -n '$sb' ] && [ ! -e '$sb' ]" "its PostgreSQL sandbox ($sb) is stopped and removed"
done_testing
