#!/usr/bin/env bash
# library.sh - every runbook in runbooks/ is clean for `runbook check`, names
# seed data that exists, and runs green with `runbook run --yes --sandbox`
# (its seed loaded into a throwaway PostgreSQL, users >= 100,000 rows).
#
# The rehearsal is `runbook rehearse`: forward with the final verification,
# the Rollback Procedure in a new session (as an operator would run it
# later), the schema compared with the seed's, and forward again.  The
# sandbox is kept so that the seed's size can be checked, then stopped.
#
# Runbooks run from a temporary directory: they write backup files into the
# current directory.
. "$(dirname "$0")/../lib/tap.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
export NO_COLOR=1

# Kept sandboxes are stopped on every way out, also when a test fails.
stops=()
cleanup() {
	local s
	for s in "${stops[@]}"; do bash -c "$s" >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# schema DB: pg_dump --schema-only without the lines that differ between
# dumps of equal schemas (as the sandbox module compares them)
schema() {
	pg_dump "$1" --schema-only --no-owner --no-privileges |
		grep -v -E '^(-- Dumped (from|by)|SET |SELECT pg_catalog\.set_config|\\(un)?restrict )'
}

runbooks=("$top"/runbooks/*.md)
ok "[ ${#runbooks[@]} -ge 6 ]" "the library has at least 6 runbooks"

for rb in "${runbooks[@]}"; do
	name=$(basename "$rb" .md)
	work=$TMP/$name
	mkdir -p "$work"
	chmod 755 "$work"

	# --- check: no errors, no warnings
	run_rb check "$rb"
	is "$rc" 0 "$name: check exits 0"
	like "$err" '1 file checked: 0 errors, 0 warnings' "$name: check finds no errors and no warnings"

	# --- the seed it names exists
	"$RUNBOOK" show --json "$rb" >"$work/plan.json" 2>/dev/null
	seed=$(jq -r '.metadata["Seed data"] // empty' "$work/plan.json" | tr -d '`')
	ok "[ -f '$top/$seed' ]" "$name: seed data $seed exists"

	# --- rehearse on a kept sandbox
	(cd "$work" && "$RUNBOOK" rehearse --keep "$rb") >"$work/rehearse.out" 2>&1 </dev/null
	rc=$?
	out=$(cat "$work/rehearse.out")
	stop=$(sed -n 's/^  stop: *//p' "$work/rehearse.out")
	[ -n "$stop" ] && stops+=("$stop")
	url=$(sed -n "s/^  connect: psql '\(.*\)'\$/\1/p" "$work/rehearse.out")
	is "$rc" 0 "$name: runbook rehearse exits 0"
	like "$out" 'forward +passed' "$name: forward passes, final verification included"
	like "$out" 'rollback +passed' "$name: the Rollback Procedure passes"
	like "$out" 'schema restored +passed +identical to before' "$name: the rollback restores the schema"
	like "$out" 'forward again +passed' "$name: forward passes again after the rollback"
	unlike "$out" '✗' "$name: no deviation, no failed expectation"
	[ "$rc" = 0 ] || diag "$(grep -n -E -B3 -A25 '✗|FAILED' "$work/rehearse.out" | head -80)"
	if [ -n "$url" ]; then
		is "$(psql "$url" -X -A -t -c "SELECT count(*) >= 100000 FROM users" 2>&1)" t \
			"$name: the seed gives users at least 100,000 rows"
		bash -c "$stop" >/dev/null 2>&1
		ok "! psql '$url' -X -c 'SELECT 1' >/dev/null 2>&1" "$name: the kept sandbox is stopped"
	else
		ok false "$name: the kept sandbox says how to connect"
	fi
done

done_testing
