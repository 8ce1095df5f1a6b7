#!/usr/bin/env bash
# control.sh - the operator in control: unattended paths act only on what
# they verified (a pattern that hit the real error, a condition checked),
# and the engineer decides everything else.
. "$(dirname "$0")/../lib/tap.sh"

C=$FIXTURES/control
PTY=$TOOLS_DIR/ptydrive
export NO_COLOR=1
cd "$TMP" || exit 1
url() { echo "postgresql:///$1?host=$PGHOST&port=$PGPORT&user=postgres"; }
psql -qX -d postgres -c "DROP DATABASE IF EXISTS control" -c "CREATE DATABASE control" >/dev/null 2>&1

# --- --yes --auto-fix never passes a deviation
run_rb run --yes --auto-fix --var ZONE=with --log dev.jsonl "$C/deviation.md"
is "$rc" 1 "--yes --auto-fix: a deviation still fails the run"
like "$out" 'deviated' "the step deviated"
unlike "$out" 'safe to proceed' "no unrelated row is taken as safe to proceed"
is "$(jq -r 'select(.type=="decision") | .choice' dev.jsonl)" "" "no decision was taken by policy"
is "$(jq -r 'select(.type=="step.end") | .verdict' dev.jsonl)" "deviated" "the journal says deviated"
is "$(jq -r 'select(.type=="suggestions") | .rows | length' dev.jsonl)" "0" \
	"a deviation is not an error message: no row is suggested by shared words"
like "$out" 'Result: failed' "the run ends failed"
run_rb run --yes --auto-fix --accept-deviations --var ZONE=with "$C/deviation.md"
is "$rc" 0 "--accept-deviations is what lets a deviation pass"

# --- word overlap alone is not evidence enough to act
run_rb run --yes --auto-fix --log overlap.jsonl "$C/overlap.md"
is "$rc" 1 "a row found by shared words only: --auto-fix does not run its fix"
like "$out" 'Documented fix' "the row is still shown to whoever reads the output"
like "$out" 'auto-fix: nothing done: no documented error matched the actual error' "and it says why nothing was done"
ok "[ ! -e queue.resumed ]" "the fix never ran"

# --- "safe to proceed if ..." that nobody checked stops an unattended run
run_rb run --yes --auto-fix --log cond.jsonl "$C/conditional.md"
is "$rc" 1 "an unverifiable condition stops an unattended run"
like "$out" 'safe to proceed only on a condition \(Safe to proceed if `indisvalid = t` for the index\)' \
	"it names the condition"
unlike "$out" 'after-index' "the next step does not run"
is "$(jq -r 'select(.type=="decision") | .choice' cond.jsonl)" "condition not checked" \
	"the journal records that the condition could not be checked"

# --- a condition that is a query is checked, and its result decides
DATABASE_URL=$(url control) run_rb run --yes --auto-fix --log chk1.jsonl "$C/checked.md"
is "$rc" 1 "the index does not exist: the condition does not hold, the run fails"
like "$out" 'checked the condition: SELECT .* returned f: it does not hold' "the check and its result are shown"
is "$(jq -r 'select(.type=="decision") | .choice' chk1.jsonl)" "condition does not hold" "and journaled"
psql -qX -d control -c "CREATE TABLE orders (id int, body text)" -c "CREATE INDEX idx_orders_search ON orders (body)"
DATABASE_URL=$(url control) run_rb run --yes --auto-fix --log chk2.jsonl "$C/checked.md"
is "$rc" 0 "a valid index: the condition holds, the step is accepted and the run goes on"
like "$out" 'returned t: it holds' "the check is shown"
like "$out" 'after-index' "the next step ran"
is "$(jq -r 'select(.type=="decision") | .choice' chk2.jsonl | tr '\n' ' ')" "condition holds continue " \
	"the journal has the check, then the continue"
psql -qX -d control -c "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_orders_search'::regclass"
DATABASE_URL=$(url control) run_rb run --yes --auto-fix "$C/checked.md"
is "$rc" 1 "an INVALID index stops the unattended run"
like "$out" 'returned f: it does not hold' "because the check says so"

# --- at a terminal: c asks the condition and a reason
"$PTY" -t 30 -o "$TMP/c.log" -- "$RUNBOOK" run --log "$TMP/c.jsonl" "$C/conditional.md" <<'SCRIPT' >/dev/null 2>&1
expect \[Enter\] run
send \r
expect c continue
send c
expect Is that so\?
send y
expect reason for continuing \(required\):
send checked pg_index by hand: valid\r
expect \[Enter\] run
send \r
expect Result:
SCRIPT
is "$?" 0 "pty: c, the condition confirmed, a reason, the run goes on"
is "$(jq -r 'select(.type=="decision") | .choice' "$TMP/c.jsonl" | tr '\n' ' ')" "condition not checked condition confirmed continue " \
	"the condition (not a query) is asked; the confirmation and the continue are journaled"
like "$(jq -r 'select(.type=="decision" and .choice=="continue") | .reason' "$TMP/c.jsonl")" 'checked pg_index by hand: valid' \
	"with the operator's reason"

"$PTY" -t 30 -o "$TMP/n.log" -- "$RUNBOOK" run --log "$TMP/n.jsonl" "$C/conditional.md" <<'SCRIPT' >/dev/null 2>&1
expect \[Enter\] run
send \r
expect c continue
send c
expect Is that so\?
send n
expect c continue
send q
expect Result:
SCRIPT
is "$?" 5 "pty: a condition the operator does not confirm goes back to the question (then q: exit 5)"
unlike "$(tr -d '\r' <"$TMP/n.log")" 'after-index' "and the run does not go on"

# --- psql in a shell block stops at its first failed statement
psql -qX -d control -c "CREATE TABLE accounts (id int)" >/dev/null
PGAPPNAME=holder psql -qX -d control -c "BEGIN; LOCK TABLE accounts; SELECT pg_sleep(60);" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 100); do
	[ "$(psql -AtX -d control -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'accounts' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && break
	sleep 0.1
done
DATABASE_URL=$(url control) run_rb run --yes --log heredoc.jsonl "$C/heredoc.md"
psql -qAtX -d control -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait "$holder" 2>/dev/null
is "$rc" 1 "the here-document's ALTER hit the lock timeout: the step fails"
is "$(jq -r 'select(.type=="block.end") | .verdict' heredoc.jsonl)" "failed" "failed, not deviated: psql stopped and said so"
like "$out" 'canceling statement due to lock timeout' "psql's error is shown"
is "$(jq -r 'select(.type=="suggestions") | .rows[0].error' heredoc.jsonl)" '`canceling statement due to lock timeout`' \
	"the lock row of the failure table is suggested"
unlike "$out" 'a accept' "and accepting the output is not what is offered"
DATABASE_URL=$(url control) run_rb run --yes "$C/heredoc.md"
is "$rc" 0 "without the blocker the same block passes"
cat > off.md <<'MD'
# Off on purpose

## Step 1: Keep going

```bash
psql -v ON_ERROR_STOP=0 "$DATABASE_URL" -c 'SELECT * FROM no_such_table' || echo "psql said $?"
RUNBOOK_PSQL_ON_ERROR_STOP=0 psql "$DATABASE_URL" -c 'SELECT * FROM no_such_table' && echo "psql said 0"
echo done
```
MD
DATABASE_URL=$(url control) run_rb run --yes off.md
like "$out" 'psql said 1' "-v ON_ERROR_STOP=0 in the block turns it off for that psql"
like "$out" 'psql said 0' "so does RUNBOOK_PSQL_ON_ERROR_STOP=0"

done_testing
