#!/usr/bin/env bash
# library.sh - every runbook in runbooks/ is clean for `runbook check`, names
# seed data that exists, and runs green with `runbook run --yes --sandbox`
# (its seed loaded into a throwaway PostgreSQL, users >= 100,000 rows).
#
# Then a rehearsal. Until `runbook rehearse` exists, by hand on the same
# sandbox (kept with --keep): the Rollback Procedure's commands one by one,
# each in a new shell as an operator would run them later; the schema must
# then equal the seed's (pg_dump --schema-only); and the runbook must run
# green a second time, ending in the same schema. Once `runbook rehearse`
# exists, it does the rehearsal (LIBRARY_ROLLBACK=1 keeps the hand-made one
# too; LIBRARY_ROLLBACK=0 skips it).
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

have_rehearse=0
"$RUNBOOK" help rehearse >/dev/null 2>&1 && have_rehearse=1
by_hand=${LIBRARY_ROLLBACK:-$((1 - have_rehearse))}

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

	# --- the seed it names exists and creates users with >= 100,000 rows
	"$RUNBOOK" show --json "$rb" >"$work/plan.json" 2>/dev/null
	seed=$(jq -r '.metadata["Seed data"] // empty' "$work/plan.json" | tr -d '`')
	ok "[ -f '$top/$seed' ]" "$name: seed data $seed exists"

	# --- forward on the sandbox, kept for the rehearsal
	(cd "$work" && "$RUNBOOK" run --yes --sandbox --keep "$rb") >"$work/run.out" 2>&1 </dev/null
	rc=$?
	out=$(cat "$work/run.out")
	stop=$(sed -n 's/^  stop: *//p' "$work/run.out")
	[ -n "$stop" ] && stops+=("$stop")
	url=$(sed -n "s/^  connect: psql '\(.*\)'\$/\1/p" "$work/run.out")
	is "$rc" 0 "$name: run --yes --sandbox exits 0"
	like "$out" 'Result: completed — [0-9]+ of [0-9]+ steps passed, 0 failed' "$name: every step passed"
	unlike "$out" '✗' "$name: no deviation, no failed expectation"
	if [ "$rc" != 0 ]; then
		diag "$(grep -n -E -B3 -A25 '✗' "$work/run.out" | head -80)"
	fi
	ok "[ -n '$url' ]" "$name: the sandbox was kept and says how to connect"
	[ -n "$url" ] || continue
	if [ "$by_hand" = 0 ]; then
		bash -c "$stop" >/dev/null 2>&1
		continue
	fi

	is "$(psql "$url" -X -A -t -c "SELECT count(*) >= 100000 FROM users" 2>&1)" t \
		"$name: the seed gave users at least 100,000 rows"

	# --- the schema the rollback must return to: the seed alone, loaded into a
	# second database once per seed file
	seedschema=$TMP/schema.$(basename "$seed" .sql)
	if [ ! -s "$seedschema" ]; then
		seedurl=$(printf '%s' "$url" | sed 's|^postgresql:///postgres?|postgresql:///seedonly?|')
		psql "$url" -X -q -c "CREATE DATABASE seedonly" >/dev/null 2>&1
		psql "$seedurl" -X -q -v ON_ERROR_STOP=1 -f "$top/$seed" >"$work/seed.out" 2>&1
		is "$?" 0 "$name: the seed loads with psql"
		schema "$seedurl" >"$seedschema"
	fi
	cp "$seedschema" "$work/schema.seed"
	schema "$url" >"$work/schema.forward"
	ok "! cmp -s '$work/schema.seed' '$work/schema.forward'" "$name: forward changed the schema"

	# --- the Rollback Procedure, command by command, each in a new shell
	setup=$(jq -r '[.setup.commands[]?.block.text] | join("\n")' "$work/plan.json")
	n=$(jq '.rollback.commands | length' "$work/plan.json")
	ok "[ '$n' -ge 1 ]" "$name: the rollback has commands"
	failed_cmds=
	for ((i = 0; i < n; i++)); do
		kind=$(jq -r ".rollback.commands[$i].block.kind" "$work/plan.json")
		text=$(jq -r ".rollback.commands[$i].block.text" "$work/plan.json")
		if [ "$kind" = sql ]; then
			printf '%s\n' "$text" | (cd "$work" && DATABASE_URL=$url psql "$url" -X -v ON_ERROR_STOP=1 -f -) \
				>"$work/rollback.$i" 2>&1
		else
			(cd "$work" && DATABASE_URL=$url bash -c "set -eo pipefail
$setup
$text") >"$work/rollback.$i" 2>&1 </dev/null
		fi
		rrc=$?
		if [ "$rrc" != 0 ]; then
			failed_cmds="$failed_cmds $i"
			diag "rollback command $i ($kind) exit $rrc:" "$text" "$(cat "$work/rollback.$i")"
		fi
	done
	is "$failed_cmds" "" "$name: every rollback command succeeds"
	schema "$url" >"$work/schema.rollback"
	if cmp -s "$work/schema.seed" "$work/schema.rollback"; then
		ok true "$name: after the rollback the schema is the seed's again"
	else
		ok false "$name: after the rollback the schema is the seed's again"
		diag "$(diff -u "$work/schema.seed" "$work/schema.rollback" | head -60)"
	fi

	# --- forward again on the rolled-back database
	(cd "$work" && DATABASE_URL=$url "$RUNBOOK" run --yes --db "$url" "$rb") >"$work/again.out" 2>&1 </dev/null
	rc=$?
	is "$rc" 0 "$name: forward again after the rollback exits 0"
	if [ "$rc" != 0 ]; then
		diag "$(grep -n -E -B3 -A25 '✗' "$work/again.out" | head -80)"
	fi
	schema "$url" >"$work/schema.again"
	ok "cmp -s '$work/schema.forward' '$work/schema.again'" "$name: forward again ends in the same schema"

	bash -c "$stop" >/dev/null 2>&1
	ok "! psql '$url' -X -c 'SELECT 1' >/dev/null 2>&1" "$name: the kept sandbox is stopped"

	# --- runbook rehearse, once it exists
	if [ "$have_rehearse" = 1 ]; then
		mkdir -p "$work/rehearse"
		(cd "$work/rehearse" && "$RUNBOOK" rehearse "$rb") >"$work/rehearse.out" 2>&1 </dev/null
		rc=$?
		is "$rc" 0 "$name: runbook rehearse exits 0"
		[ "$rc" = 0 ] || diag "$(tail -40 "$work/rehearse.out")"
	fi
done

done_testing
