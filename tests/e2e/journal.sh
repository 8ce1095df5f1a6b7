#!/usr/bin/env bash
# journal.sh - the journal: what it holds, its hash chain, files it refuses,
# resume after kill -9 at several points, secrets kept out, a full disk.
. "$(dirname "$0")/../lib/tap.sh"

export NO_COLOR=1
J=$FIXTURES/journal
cd "$TMP"

# chain_ok FILE: every line's prev is the SHA-256 of the line before, seq counts up
chain_ok() {
	local prev=0000000000000000000000000000000000000000000000000000000000000000 n=0 line
	while IFS= read -r line; do
		[ "$(printf '%s' "$line" | jq -r .prev)" = "$prev" ] || { echo "bad prev at $n"; return 1; }
		[ "$(printf '%s' "$line" | jq -r .seq)" = "$n" ] || { echo "bad seq at $n"; return 1; }
		prev=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
		n=$((n + 1))
	done <"$1"
}
types() { jq -r .type "$1" | tr '\n' ' '; }

# --- a run writes its journal
run_rb run --yes "$FIXTURES/run/state.md"
is "$rc" 0 "a run passes"
log=$(ls .runbook/logs/state-*.jsonl)
ok "[ -f '$log' ]" "the journal is in .runbook/logs/<runbook>-<time>.jsonl"
is "$(stat -c %a "$log")" 600 "the journal is mode 0600"
is "$(stat -c %a .runbook/logs)" 700 "its directory is mode 0700"
like "$out" "journal: $log" "the run says where its journal is"
ok "chain_ok '$log'" "the hash chain holds line by line"
is "$(head -1 "$log" | jq -r .type)" run.start "line 0 is run.start"
is "$(head -1 "$log" | jq -r .runbook.sha256)" "$(sha256sum "$FIXTURES/run/state.md" | cut -d' ' -f1)" "run.start holds the runbook's SHA-256"
is "$(head -1 "$log" | jq -r .operator.user)" "$(id -un)" "and the operator"
is "$(tail -1 "$log" | jq -r '.type + " " + .result')" "run.end completed" "the last line is run.end"
is "$(jq -r 'select(.type=="block.start") | .block' "$log" | tr '\n' ' ')" "0 1 2 3 4 " "a block.start before every block"
is "$(jq -r 'select(.type=="block.end") | (.stdout.text | utf8bytelength) == .stdout.bytes' "$log" | sort -u)" true "block.end counts the bytes of its output"
like "$(jq -r 'select(.type=="block.end") | .stdout.sha256' "$log" | head -1)" '^[0-9a-f]{64}$' "and hashes them"

# --- files it refuses
ln -s /etc/passwd "$TMP/evil.jsonl"
run_rb run --yes --log "$TMP/evil.jsonl" "$FIXTURES/run/state.md"
is "$rc" 4 "a symlink at --log is refused"
like "$out$err" 'symbolic link' "and says why"
is "$(head -c 5 /etc/passwd)" "root:" "the symlink's target is untouched"
: >"$TMP/exists.jsonl"
run_rb run --yes --log "$TMP/exists.jsonl" "$FIXTURES/run/state.md"
is "$rc" 4 "an existing journal is never overwritten"

# --- secrets never reach the journal
export API_TOKEN=tok-3c1b7f9e
run_rb run --yes --log "$TMP/secret.jsonl" --var DB_PASSWORD=pw-8d2e4a6c --var PLAIN=visible \
	--var COUNTER="$TMP/sc" --var KILL_AT=none "$J/crash.md"
unset API_TOKEN
is "$rc" 0 "a run with secrets in the environment and --var passes"
is "$(grep -c -e tok-3c1b7f9e -e pw-8d2e4a6c "$TMP/secret.jsonl")" 0 "no secret value appears in the journal's bytes"
like "$(grep -o '"name":"DB_PASSWORD","value":"[^"]*"' "$TMP/secret.jsonl")" '\*\*\*' "a secret --var is recorded masked"
like "$(cat "$TMP/secret.jsonl")" '"name":"PLAIN","value":"visible"' "an ordinary --var is recorded"

# secrets the runbook sets itself, a secret with a blank in the environment,
# SQL passwords in every quoting: masked on the screen and in the journal
cat >"$TMP/selfsecret.md" <<'MD'
# Secrets set by the runbook

## Step 1: Set them

```bash
export DB_PASSWORD=exportedpw42; export PGPASSWORD="pgexp43x"
MY_SECRET=localsecret33
```

## Step 2: Print them

```bash
echo "connecting with $DB_PASSWORD, $PGPASSWORD and $MY_SECRET"
echo "outer: $OUTER_PASSWORD"
cat <<'SQL'
CREATE USER u1 WITH LOGIN PASSWORD
  'sqlpw_fff';
ALTER USER u2 PASSWORD E'sqlpw_ccc';
ALTER USER u3 PASSWORD $$sqlpw_ddd$$;
ALTER USER u4 PASSWORD $q$sqlpw_eee$q$;
SQL
```

## Rollback Procedure

```bash
true
```
MD
OUTER_PASSWORD='outer pw!' run_rb run --yes --no-color --log "$TMP/selfsecret.jsonl" "$TMP/selfsecret.md"
is "$rc" 0 "a runbook that sets and prints its own secrets runs"
leaks=$(printf '%s\n' "$out" "$err" | grep -o -e exportedpw42 -e pgexp43x -e localsecret33 -e 'outer pw!' -e 'sqlpw_[a-z]*' | sort -u | tr '\n' ' ')
is "$leaks" "" "none of them reaches the screen"
is "$(grep -c -e exportedpw42 -e pgexp43x -e localsecret33 -e 'outer pw!' -e sqlpw_ "$TMP/selfsecret.jsonl")" 0 "nor the journal"
like "$out" 'connecting with \*\*\*, \*\*\* and \*\*\*' "the output shows where they were"

# --- resume after kill -9 in the middle of step 2
rm -rf .runbook
c=$TMP/counter1
"$RUNBOOK" run --yes --var COUNTER="$c" --var KILL_AT=step2 "$J/crash.md" >"$TMP/k1.out" 2>&1
is "$?" 137 "runbook dies of SIGKILL in step 2"
log=$(ls .runbook/logs/crash-*.jsonl)
ok "chain_ok '$log'" "the journal of the killed run is intact"
is "$(jq -r 'select(.type=="block.start") | .step.number' "$log" | tail -1)" 2 "its last record is step 2's command starting"
unlike "$(types "$log")" 'run.end' "it has no run.end"
run_rb run --yes --resume "$J/crash.md"
is "$rc" 2 "resuming unattended without --in-flight is refused (exit 2)"
like "$err" 'step-2 was in flight.*--in-flight=verify' "and it says what to choose"
run_rb run --yes --resume --in-flight=rerun "$J/crash.md"
is "$rc" 0 "resume with --in-flight=rerun completes"
like "$out" 'step-1: passed in the earlier session; not run again' "the completed step is not run again"
like "$out" 'restored NOTE_FILE=note_' "the capture of step 1 is restored"
is "$(grep -c '^one$' "$c")" 1 "step 1 ran once in all"
is "$(grep -c '^two$' "$c")" 2 "step 2 ran twice: before the kill and on the chosen re-run"
like "$(cat "$c")" 'three uses note_[0-9]+\.txt' "step 3 used the captured value from the first session"
ok "chain_ok '$log'" "the resumed journal's chain holds across the sessions"
like "$(types "$log")" 'run.resume .*run.end' "it records the resume and ends with run.end"
is "$(jq -r 'select(.type=="decision") | .choice' "$log")" "re-run in-flight step" "the choice is recorded"

# --- kill -9 in step 3; resume through a terminal; the in-flight step asks
rm -rf .runbook
c=$TMP/counter2
"$RUNBOOK" run --yes --var COUNTER="$c" --var KILL_AT=step3 "$J/crash.md" >/dev/null 2>&1
is "$?" 137 "runbook dies of SIGKILL in step 3"
"$TOOLS_DIR/ptydrive" -t 30 -o "$TMP/res.log" -- "$RUNBOOK" run --resume "$J/crash.md" <<SCRIPT >"$TMP/res.out" 2>&1
expect step-2: passed in the earlier session
expect step-3 was in flight
expect r re-run it · d mark it done · q abort
send d
expect why it is done
send checked by hand\r
expect Result: completed
SCRIPT
is "$?" 0 "pty: marking the in-flight step done completes the run"
ok "! grep -q '^three' '$c'" "the in-flight step was not re-run"
log=$(ls .runbook/logs/crash-*.jsonl)
like "$(jq -c 'select(.type=="decision")' "$log")" '"choice":"mark in-flight step done","reason":"checked by hand"' "the reason is recorded"

# --- kill -9 in step 2, resume choosing verify (it passes: the block had finished its work)
rm -rf .runbook
c=$TMP/counter3
"$RUNBOOK" run --yes --var COUNTER="$c" --var KILL_AT=step2 "$J/crash.md" >/dev/null 2>&1
touch "$c.two-done"
run_rb run --yes --resume --in-flight=verify "$J/crash.md"
is "$rc" 0 "resume with --in-flight=verify runs the step's verification and goes on"
like "$out" 'two is done' "the verification ran"
is "$(grep -c '^two$' "$c")" 1 "and step 2 itself was not re-run"

# --- kill -9 in step 3, which has no verification: --in-flight=verify cannot
# prove it, so it is refused; a terminal that goes away at the question
# leaves the run resumable
rm -rf .runbook
c=$TMP/counter3b
"$RUNBOOK" run --yes --var COUNTER="$c" --var KILL_AT=step3 "$J/crash.md" >/dev/null 2>&1
run_rb run --yes --resume --in-flight=verify "$J/crash.md"
is "$rc" 2 "--in-flight=verify of a step with no verification is refused (exit 2)"
like "$err" 'step-3 was in flight and has no verification to run: resume with --in-flight=rerun' "saying what to do instead"
"$TOOLS_DIR/ptydrive" -t 20 -o "$TMP/inflight-hup.pty" -- "$RUNBOOK" run --resume "$J/crash.md" <<SCRIPT >/dev/null 2>&1
expect was in flight
expect q abort
hangup
SCRIPT
hup=$(tr -d '\r' <"$TMP/inflight-hup.pty")
like "$hup" 'r re-run it · d mark it done · q abort' "the question is asked"
unlike "$hup" 'v run its verification' "without offering a verification the step lacks"
run_rb run --yes --resume --in-flight=rerun "$J/crash.md"
is "$rc" 0 "after the hangup the run still resumes"
is "$(grep -c '^three' "$c")" 1 "and step 3 runs once"

# --- a changed runbook is not resumed unless asked
rm -rf .runbook
cp "$J/crash.md" "$TMP/crash.md"
c=$TMP/counter4
"$RUNBOOK" run --yes --var COUNTER="$c" --var KILL_AT=step2 "$TMP/crash.md" >/dev/null 2>&1
echo "<!-- edited -->" >>"$TMP/crash.md"
run_rb run --yes --resume --in-flight=rerun "$TMP/crash.md"
is "$rc" 4 "a runbook changed since the crash is not resumed"
like "$err" 'changed since the run' "it says why"
run_rb run --yes --resume --in-flight=rerun --allow-changed "$TMP/crash.md"
is "$rc" 0 "--allow-changed resumes it"
is "$(jq -r 'select(.type=="run.resume") | .runbook_changed' .runbook/logs/crash-*.jsonl)" true "and the journal records that it changed"

# --- the journal's disk fills up: the run stops before the next command runs
rm -rf .runbook
c=$TMP/counter5
full_size=$(stat -c %s "$TMP/secret.jsonl")
limit_kib=$(( full_size / 2 / 1024 )); [ "$limit_kib" -ge 1 ] || limit_kib=1
diag "a whole journal of this runbook is $full_size bytes; the file size limit is $limit_kib KiB"
( ulimit -f "$limit_kib"; "$RUNBOOK" run --yes --log "$TMP/full.jsonl" --var COUNTER="$c" --var KILL_AT=none "$J/crash.md" ) >"$TMP/full.out" 2>&1
frc=$?
is "$frc" 4 "a journal that cannot be written stops the run (exit 4)"
like "$(cat "$TMP/full.out")" 'cannot write .*full.jsonl: File too large' "it says why"
like "$(cat "$TMP/full.out")" 'Nothing more can be recorded, so nothing more runs' "and that it stopped"
ok "chain_ok '$TMP/full.jsonl'" "every line that was written is whole and chained"
last=$(tail -c1 "$TMP/full.jsonl" | od -An -c | tr -d ' ')
is "$last" '\n' "the journal ends with a complete line"
n_started=$(jq -r 'select(.type=="block.start") | .block' "$TMP/full.jsonl" | wc -l)
n_ran=$(cat "$c" 2>/dev/null | wc -l)
ok "[ $n_ran -le $n_started ]" "no command ran without its block.start on disk ($n_ran ran, $n_started recorded)"
hint=$(grep -o 'continue it with runbook run --resume[^ ]* [^ ]*' "$TMP/full.out")
like "$hint" "--resume=$TMP/full.jsonl " "the hint names the --log journal (--resume alone looks in .runbook/logs)"
run_rb run --yes --resume="$TMP/full.jsonl" --in-flight=rerun --var COUNTER="$c" --var KILL_AT=none "$J/crash.md"
is "$rc" 0 "and the command it gives resumes the run once there is room"

done_testing
