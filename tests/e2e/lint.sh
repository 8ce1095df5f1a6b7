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

# --- every bad example in docs/lint-rules.md is reported, no good one is
mkdir -p "$TMP/doc"
awk -v dir="$TMP/doc" '
	/^### / { rule = $2; next }
	/^```(sql|bash)$/ && rule { inblock = 1; lang = substr($0, 4); part = ""; next }
	inblock && /^```$/ { inblock = 0; next }
	inblock && /^(--|#) (bad|good)/ {
		k++
		part = ($0 ~ /^(--|#) bad/) ? "bad" : "good"
		file = dir "/" rule "." k "." part "." lang
		next
	}
	inblock && part != "" { print > file }
' "$FIXTURES/../../docs/lint-rules.md"
for snippet in "$TMP"/doc/*; do
	IFS=. read -r rule _ part lang <<<"$(basename "$snippet")"
	md=$TMP/doc-example.md
	{
		printf '# Doc example\n\n'
		if [ "$rule" = rollback-drops-without-backup ]; then
			printf '## Step 1: Nothing\n\n```bash\ntrue\n```\n\nExpected:\n```\n```\n\n'
			printf '## Rollback Procedure\n\n```%s\n%s\n```\n' "$lang" "$(cat "$snippet")"
		else
			printf '## Step 1: Example\n\n```%s\n%s\n```\n\nExpected:\n```\n```\n\n' "$lang" "$(cat "$snippet")"
			printf '## Rollback Procedure\n\n```bash\ntrue\n```\n'
		fi
	} >"$md"
	"$RUNBOOK" check -q "$md" >"$TMP/doc.out" 2>&1
	if [ "$part" = bad ]; then
		ok "grep -q '\\[$rule\\]\$' '$TMP/doc.out'" "docs: the bad example of $rule is reported"
	else
		ok "! grep -q '\\[$rule\\]\$' '$TMP/doc.out'" "docs: the good example of $rule is not"
	fi
done
ok "[ \$(ls '$TMP'/doc | wc -l) -ge 36 ]" "docs: a bad and a good example for each SQL rule"

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
