#!/usr/bin/env bash
# lint.sh - `runbook check` on the SQL lock-safety and runbook rules, through
# the built binary: SQL in ```sql blocks, in psql -c, in here-documents,
# switched off by attribute and by pragma.
. "$(dirname "$0")/../lib/tap.sh"

L=$FIXTURES/lint

# --- each fixture gives exactly its expected diagnostics
for f in "$L"/*.md; do
	name=$(basename "$f" .md)
	(cd "$FIXTURES/../.." && "$RUNBOOK" check -q "tests/fixtures/lint/$name.md") >"$TMP/check.out" 2>&1
	crc=$?
	is "$(cat "$TMP/check.out")" "$(cat "$L/$name.expected")" "check $name: diagnostics, lines and columns"
	if grep -q ': error: ' "$L/$name.expected"; then
		is "$crc" 1 "check $name: exit 1 on errors"
	else
		is "$crc" 0 "check $name: exit 0 with warnings only"
	fi
done

# --- a careful runbook is not reported at all
run_rb check "$L/clean.md"
is "$rc" 0 "clean runbook: exit 0"
is "$out" "" "clean runbook: no diagnostics"
like "$err" '0 errors, 0 warnings' "clean runbook: the summary says so"

# --- every SQL rule shows up somewhere in the fixtures
for rule in require-concurrent-index-creation require-concurrent-index-deletion \
	ban-concurrent-index-creation-in-transaction adding-field-with-default \
	adding-not-nullable-field adding-required-field changing-column-type renaming-column \
	renaming-table ban-drop-column ban-drop-table constraint-missing-not-valid \
	adding-foreign-key-constraint disallowed-unique-constraint prefer-robust-stmts \
	require-lock-timeout ban-uncommitted-transaction unbounded-dml \
	capture-used-before-defined rollback-drops-without-backup; do
	ok "cat '$L'/*.expected | grep -q '\\[$rule\\]\$'" "fixtures exercise $rule"
	ok "grep -q '^| \`$rule\` |' '$FIXTURES/../../docs/lint-rules.md'" "docs/lint-rules.md documents $rule"
done

# --- --json carries rule, position and severity
run_rb check --json "$L/heredoc.md"
is "$rc" 1 "check --json keeps the exit status"
is "$(printf '%s' "$out" | jq -r '[.[] | select(.rule=="ban-concurrent-index-creation-in-transaction") | "\(.line):\(.column):\(.severity)"] | join(" ")')" \
	"27:1:error 51:3:error" "check --json: CONCURRENTLY in a transaction, at its statement"

# --- a runbook with SQL errors does not run
run_rb run --yes --dry-run "$L/sql-blocks.md"
is "$rc" 3 "run refuses a runbook with SQL lint errors (exit 3)"
like "$err" 'adding-required-field' "and names the rule"

# --- the shipped runbook and the guide: warnings, never errors
for f in "$FIXTURES/../../runbooks"/*.md "$FIXTURES/guide.md" "$FIXTURES"/variants/*.md; do
	run_rb check -q "$f"
	is "$rc" 0 "$(basename "$f"): no lint errors"
done

done_testing
