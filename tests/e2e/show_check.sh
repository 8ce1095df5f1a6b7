#!/usr/bin/env bash
# show_check.sh - `runbook show` and `runbook check` through the built binary.
. "$(dirname "$0")/../lib/tap.sh"

guide=$FIXTURES/guide.md

# --- show
run_rb show --no-color "$guide"
is "$rc" 0 "show exits 0"
like "$out" '^Orders Archive Flag - Manual Execution Guide' "show prints the title first"
like "$out" 'Date: 2026-03-14' "show prints metadata"
like "$out" 'Prerequisites \(4\)' "show counts 4 prerequisites"
like "$out" 'Step 1/3: Snapshot Orders' "show numbers step 1 of 3"
like "$out" 'Step 3/3: Create Index' "show numbers step 3 of 3"
like "$out" 'fix: +sudo systemctl start postgresql' "show offers the Linux fix of a failure row"
like "$out" 'column_exists = 1' "show lists the expected final state"
like "$out" '# Only if data was damaged: reload the snapshot' "show lists rollback commands with their comments"
like "$out" 'Next steps \(4\)' "show lists next steps"
unlike "$out" 'hunter22' "show never prints the password in the connection string"
like "$out" 'postgresql://ops:\*\*\*@db.internal' "show masks the password, keeps the rest of the URL"

# --- show --json carries the same structure
run_rb show --json "$guide"
is "$rc" 0 "show --json exits 0"
is "$(printf '%s' "$out" | jq '.steps | length')" 3 "json: 3 steps"
is "$(printf '%s' "$out" | jq '.prerequisites | length')" 4 "json: 4 prerequisites"
is "$(printf '%s' "$out" | jq '[.steps[].failures | length] | join(",")' -r)" "3,3,3" "json: 3 failure rows per step"
is "$(printf '%s' "$out" | jq '.expected_final_state | length')" 2 "json: 2 final-state rows"
is "$(printf '%s' "$out" | jq '.rollback.commands | length')" 3 "json: 3 rollback commands"
is "$(printf '%s' "$out" | jq '.next_steps | length')" 4 "json: 4 next steps"
is "$(printf '%s' "$out" | jq -r '.steps[0].commands[0].expected.text')" \
	"Snapshot written: orders_snapshot_20260314_091500.sql" "json: expected output text"
is "$(printf '%s' "$out" | jq '.steps[1].verifications[0].block.line')" 115 "json: verification block line"
is "$(printf '%s' "$out" | jq -r '.setup.commands[0].block.lang')" bash "json: setup block language"
unlike "$out" 'hunter22' "json never carries the password"

# --- colour only on a terminal
run_rb show "$guide"
unlike "$out" $'\033\\[' "no colour codes when stdout is not a terminal"

# --- check: clean file (structure clean; the SQL lint warns about the two
# ALTER TABLEs run through psql without a lock_timeout)
run_rb check "$guide"
is "$rc" 0 "check on a clean runbook exits 0"
is "$(printf '%s\n' "$out" | grep -v '\[require-lock-timeout\]$')" "" \
	"check on a clean runbook prints no diagnostics but lock-timeout warnings"
like "$err" '1 file checked: 0 errors, 2 warnings' "check summarises on stderr"

# --- steps numbered with a gap: the header never says "Step 3/2"
printf '# Gaps\n\n## Step 1: One\n\n```bash\necho one\n```\n\n## Step 3: Three\n\n```bash\necho three\n```\n\n## Rollback Procedure\n\n```bash\ntrue\n```\n' >"$TMP/gap.md"
run_rb show --no-color "$TMP/gap.md"
like "$out" 'Step 3 \(2 of 2\): Three' "a step after a gap shows its number and its position"
unlike "$out" 'Step 3/2' "and never a number over the total"
run_rb run --yes --no-color "$TMP/gap.md"
like "$out" 'Step 3 \(2 of 2\): Three' "run says the same"

# --- options after FILE, as the README writes them
run_rb show "$guide" --json
is "$(printf '%s' "$out" | jq '.steps | length')" 3 "show FILE --json"
run_rb check "$guide" --json
is "$rc" 0 "check FILE --json"
ok "printf '%s' \"\$out\" | jq -e 'type == \"array\"' >/dev/null" "prints JSON"
run_rb run "$guide" --dry-run
is "$rc" 0 "run FILE --dry-run"
like "$out" 'dry run: nothing is executed' "is a dry run"

# --- check: through one pipe (`check ... 2>&1 | less`) the summary comes last
"$RUNBOOK" check "$FIXTURES/malformed/no-command.md" >"$TMP/both.out" 2>&1
is "$(tail -n 1 "$TMP/both.out")" "1 file checked: 2 errors, 0 warnings" \
	"with stdout and stderr on one file, the summary follows the diagnostics"
is "$(head -n 1 "$TMP/both.out" | sed 's/.*:3:1: //')" "error: step 1 (Talk only) has no command block to run [step-no-command]" \
	"and the first diagnostic comes first"

# --- check: each malformed fixture gives exactly its expected diagnostics
for f in "$FIXTURES"/malformed/*.md; do
	name=$(basename "$f" .md)
	(cd "$FIXTURES/../.." && "$RUNBOOK" check -q "tests/fixtures/malformed/$name.md") >"$TMP/check.out" 2>&1
	crc=$?
	is "$(cat "$TMP/check.out")" "$(cat "$FIXTURES/malformed/$name.expected")" "check $name: diagnostics and line numbers"
	if grep -q ': error: ' "$FIXTURES/malformed/$name.expected"; then
		is "$crc" 1 "check $name: exit 1 on errors"
	else
		is "$crc" 0 "check $name: exit 0 with warnings only"
	fi
done

# --- check --json
run_rb check --json "$FIXTURES/malformed/unclosed-fence.md"
is "$rc" 1 "check --json keeps the exit status"
is "$(printf '%s' "$out" | jq -r '.[] | select(.rule=="unclosed-fence") | "\(.line):\(.column):\(.severity)"')" \
	"16:1:error" "check --json gives line, column and severity"

# --- several files: errors in any file fail the run
run_rb check "$guide" "$FIXTURES/malformed/step-numbers.md"
is "$rc" 1 "check of several files fails if one has errors"
like "$err" '2 files checked' "check counts the files"

# --- bad input: one line naming the file, exit 3, never a crash
printf '# T\n\x00\x01binary' >"$TMP/binary.md"
printf '# T\n\nline two \xff\xfe\n' >"$TMP/badutf8.md"
: >"$TMP/empty.md"
printf '\n  \n\t\n' >"$TMP/blank.md"
truncate -s 65M "$TMP/huge.md"
mkdir "$TMP/dir.md"
for case in "missing.md:no such file" "dir.md:is a directory" "binary.md:2: binary file" \
	"badutf8.md:3: invalid UTF-8" "empty.md:empty file" "blank.md:empty file" \
	"huge.md:larger than the 64 MiB limit"; do
	file=${case%%:*}
	msg=${case#*:}
	for cmd in show check; do
		run_rb $cmd "$TMP/$file"
		is "$rc" 3 "$cmd $file: exit 3"
		is "$(printf '%s\n' "$err" | grep -c .)" 1 "$cmd $file: one line on stderr"
		like "$err" "^runbook: $TMP/$file:.*$msg" "$cmd $file: names the file and says why"
	done
done

# --- usage errors
run_rb show
is "$rc" 2 "show without a file is a usage error"
run_rb check --frobnicate "$guide"
is "$rc" 2 "unknown option is a usage error"
run_rb frobnicate
is "$rc" 2 "unknown command is a usage error"
like "$err" "no such command 'frobnicate'" "unknown command is named"
run_rb --version
like "$out" '^runbook [0-9]+\.[0-9]+' "--version prints the version"

done_testing
