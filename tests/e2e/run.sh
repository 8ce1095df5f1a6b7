#!/usr/bin/env bash
# run.sh - `runbook run` with real processes: state, failures, timeouts,
# memory bounds, exit codes, and the interactive prompts through a real
# pseudo-terminal.
. "$(dirname "$0")/../lib/tap.sh"

R=$FIXTURES/run
PTY=$TOOLS_DIR/ptydrive
export NO_COLOR=1
export WORK=$TMP

# --- state carries from block to block and step to step
run_rb run --yes "$R/state.md"
is "$rc" 0 "state runbook passes"
like "$out" 'setup=setup-value exported=exported-value plain=plain-value' "exported and plain variables carry across steps"
like "$out" 'pwd=sub' "cd carries across steps"
like "$out" 'say: it works' "functions carry across steps"
like "$out" 'SHOUT' "aliases carry across steps"
like "$out" 'child: exported-value unset' "exported variables reach child processes, plain ones do not"
like "$out" 'verified plain-value' "verification blocks see the state"
like "$out" 'Result: completed — 3 of 3 steps passed' "summary line"

# --- errexit and pipefail stop a block; --yes stops at the first failure
run_rb run --yes "$R/fail.md"
is "$rc" 1 "a failed step exits 1"
like "$out" '│ partial' "output before the failure is shown"
unlike "$out" '│ never-printed' "errexit: the block stops at the failing command"
like "$out" '✗ failed: exit 1' "the verdict says failed with the exit status"
unlike "$out" '│ three-ran' "--yes stops at the first failed step"
like "$out" '3 +After the failure +not reached' "the summary shows the steps not reached"

run_rb run --yes --keep-going "$R/fail.md"
is "$rc" 1 "--keep-going still fails the run"
like "$out" 'three-ran' "--keep-going goes on after a failed step"
unlike "$out" '│ pipe-never' "pipefail: a failure early in a pipeline stops the block"
like "$out" 'Result: failed — 2 of 4 steps passed, 2 failed' "--keep-going reports every failure"

# --- a timeout kills the whole process tree
pidfile=$TMP/bg.pid
run_rb run --yes --kill-grace 1 --var PIDFILE="$pidfile" "$R/timeout.md"
is "$rc" 1 "a timed-out block fails the run"
like "$out" 'timed out: timed out after 1 s' "the verdict says timed out after 1 s"
bg=$(cat "$pidfile" 2>/dev/null)
ok "[ -n '$bg' ]" "the background grandchild wrote its pid"
# SIGKILL is sent; the process is gone once it has been reaped (give a
# loaded machine up to 10 s for that)
for _ in $(seq 100); do kill -0 "$bg" 2>/dev/null || break; sleep 0.1; done
ok "! kill -0 $bg" "the background grandchild (sleep 1000.5 &) is gone"
ok "! pgrep -f 'sleep 1000.5' >/dev/null" "no sleep 1000 survives anywhere"

# --- memory stays bounded whatever a command prints
cat >"$TMP/big.md" <<'MD'
# Big output

## Step 1: Print 200 MB on stdout and 20 MB on stderr

```bash
head -c 200000000 /dev/zero | tr '\0' 'x'
head -c 20000000 /dev/zero | tr '\0' 'e' >&2
echo
```

## Rollback Procedure

```bash
true
```
MD
# The documented bound is 48 MiB; an ASan build keeps shadow memory and a
# quarantine of freed blocks, so it is measured with a small quarantine and
# a bound of its own.
bound=49152
if [ -n "${ASAN_OPTIONS:-}" ]; then bound=262144; fi
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:quarantine_size_mb=4}" \
	"$TOOLS_DIR/maxrss" "$RUNBOOK" run --yes "$TMP/big.md" >/dev/null 2>"$TMP/rss.err"
is "$?" 0 "200 MB of output passes"
rss=$(awk '/^maxrss_kib/ {print $2}' "$TMP/rss.err")
diag "peak RSS with 220 MB of output: ${rss} KiB (bound ${bound} KiB)"
ok "[ '$rss' -lt $bound ]" "peak RSS stays under the bound (${rss} KiB)"
mkdir -p "$TMP/tmpdir"
TMPDIR=$TMP/tmpdir "$RUNBOOK" run --yes "$TMP/big.md" >/dev/null 2>&1
is "$(ls -A "$TMP/tmpdir")" "" "the work directory is removed at the end"

# --- console blocks run their prompted commands
run_rb run --yes "$R/console.md"
is "$rc" 0 "console block passes"
like "$out" '│ x is 42' "console commands share state"

# --- --var, --only, --from, --dry-run
run_rb run --yes --only 2 "$R/fail.md"
is "$rc" 1 "--only 2 runs the failing step"
unlike "$out" '│ one' "--only 2 does not run step 1"
run_rb run --yes --from 3 "$R/fail.md"
like "$out" 'three-ran' "--from 3 runs step 3"
unlike "$out" '│ partial' "--from 3 does not run step 2"
run_rb run --dry-run --var GREETING=hi "$R/state.md"
is "$rc" 0 "--dry-run exits 0"
like "$out" 'GREETING=hi' "--dry-run shows the variables"
like "$out" '## 1\. bash, .*state.md:10, timeout 3600s' "--dry-run numbers blocks with their lines and timeouts"
unlike "$out" '│' "--dry-run runs nothing"
run_rb run --yes --var 'BAD-NAME=1' "$R/state.md"
is "$rc" 2 "--var with a bad name is a usage error"
run_rb run --yes --only 9 "$R/state.md"
is "$rc" 2 "--only with a missing step is a usage error"
run_rb run --yes --from 9 "$R/state.md"
is "$rc" 2 "--from past the last step is a usage error, not an empty success"
like "$err" '--from 9: there is no step 9 or later' "saying there is no such step"

# --- without a terminal and without --yes, refuse
run_rb run "$R/state.md"
is "$rc" 2 "no TTY and no --yes: refuses with exit 2"
like "$err" 'stdin is not a terminal' "and says why"

# --- a runbook with errors does not run
run_rb run --yes "$FIXTURES/malformed/unclosed-fence.md"
is "$rc" 3 "a runbook with check errors does not run (exit 3)"
like "$err" 'unclosed-fence' "the errors are shown"

# --- interactive, through a real pseudo-terminal
marker=$TMP/marker
rm -f "$marker"
"$PTY" -t 20 -o "$TMP/pty1.log" -- "$RUNBOOK" run --var MARKER="$marker" "$R/interactive.md" <<SCRIPT >"$TMP/pty1.out" 2>&1
expect Step 1/4: First
expect \[Enter\] run · s skip · q quit
send \r
expect first-step-ran
expect Step 2/4: Needs a file
expect \[Enter\] run
send \r
expect failed: exit 1
expect r retry · s skip
send r
expect failed: exit 1
expect r retry
send s
expect reason for skipping
send flaky check\r
expect Step 3/4: Third
expect \[Enter\] run
send s
expect reason for skipping
send not needed today\r
expect Step 4/4: Slow
expect \[Enter\] run
send q
SCRIPT
prc=$?
is "$prc" 5 "quitting at a prompt exits 5 (aborted)"
tr -d '\r' <"$TMP/pty1.log" >"$TMP/pty1.txt"
like "$(cat "$TMP/pty1.txt")" 'skipped: not needed today' "skip before running records the reason"
unlike "$(cat "$TMP/pty1.txt")" '│ third-step-ran' "a skipped command does not run"
like "$(cat "$TMP/pty1.txt")" 'Result: aborted by the operator' "the summary says aborted"
like "$(cat "$TMP/pty1.txt")" '2 +Needs a file +skipped' "a failed block skipped with a reason marks the step skipped"

# retry after fixing a file turns the step green
rm -f "$marker"
"$PTY" -t 20 -o "$TMP/pty2.log" -- "$RUNBOOK" run --var MARKER="$marker" --only 2 "$R/interactive.md" <<SCRIPT >"$TMP/pty2.out" 2>&1
expect \[Enter\] run
send \r
expect failed: exit 1
expect r retry
send r
expect failed: exit 1
expect r retry
SCRIPT
touch "$marker"
"$PTY" -t 20 -o "$TMP/pty3.log" -- "$RUNBOOK" run --var MARKER="$marker" --only 2 "$R/interactive.md" <<SCRIPT >"$TMP/pty3.out" 2>&1
expect \[Enter\] run
send \r
expect marker-found
expect passed
SCRIPT
is "$?" 0 "with the file in place the step passes"
rm -f "$marker"
cat >"$TMP/fixer.sh" <<FIX
sleep 1; touch "$marker"
FIX
"$PTY" -t 20 -o "$TMP/pty4.log" -- "$RUNBOOK" run --var MARKER="$marker" --only 2 "$R/interactive.md" <<SCRIPT >"$TMP/pty4.out" 2>&1
expect \[Enter\] run
send \r
expect failed: exit 1
expect r retry · s skip
sleep 100
SCRIPT
touch "$marker"
"$PTY" -t 20 -o "$TMP/pty5.log" -- "$RUNBOOK" run --var MARKER="$marker.missing" --only 2 "$R/interactive.md" <<SCRIPT >"$TMP/pty5.out" 2>&1
expect \[Enter\] run
send \r
expect failed: exit 1
expect r retry
send q
SCRIPT
is "$?" 5 "abort after a failure exits 5"

# the real fix-and-retry: the file appears while the prompt waits
rm -f "$marker"
( sleep 2; touch "$marker" ) &
"$PTY" -t 20 -o "$TMP/pty6.log" -- "$RUNBOOK" run --var MARKER="$marker" --only 2 "$R/interactive.md" <<SCRIPT >"$TMP/pty6.out" 2>&1
expect \[Enter\] run
send \r
expect failed: exit 1
expect r retry
sleep 2500
send r
expect marker-found
expect Result: completed
SCRIPT
is "$?" 0 "retry after fixing the file turns the step green (exit 0)"

# Ctrl-C during a block: the step is interrupted, exit 130
"$PTY" -t 20 -o "$TMP/pty7.log" -- "$RUNBOOK" run --only 4 "$R/interactive.md" <<SCRIPT >"$TMP/pty7.out" 2>&1
expect \[Enter\] run
send \r
expect running
send \x03
expect interrupted
SCRIPT
is "$?" 130 "Ctrl-C during a block exits 130"
like "$(tr -d '\r' <"$TMP/pty7.log")" '4 +Slow +interrupted' "the step is marked interrupted"
ok "! pgrep -f 'sleep 37.25' >/dev/null" "the interrupted block's process is gone"

# Ctrl-C twice kills a block that ignores SIGINT
cat >"$TMP/stubborn.md" <<'MD'
# Stubborn

## Step 1: Ignores Ctrl-C

```bash
trap '' INT
sleep 31.75
```

## Rollback Procedure

```bash
true
```
MD
"$PTY" -t 20 -o "$TMP/pty8.log" -- "$RUNBOOK" run "$TMP/stubborn.md" <<SCRIPT >"$TMP/pty8.out" 2>&1
expect \[Enter\] run
send \r
expect running
send \x03
sleep 500
send \x03
expect interrupted
SCRIPT
is "$?" 130 "a second Ctrl-C kills a block that ignores the first"
ok "! pgrep -f 'sleep 31.75' >/dev/null" "nothing of the stubborn block survives"

# an interactive block reads the terminal; other blocks read /dev/null
"$PTY" -t 20 -o "$TMP/pty9.log" -- "$RUNBOOK" run "$R/ask-name.md" <<SCRIPT >"$TMP/pty9.out" 2>&1
expect \[Enter\] run
send \r
expect name\?
send Ada\r
expect hello Ada
expect \[Enter\] run
send \r
expect Result
SCRIPT
is "$?" 0 "interactive runbook completes"
like "$(tr -d '\r' <"$TMP/pty9.log")" '│ stdin is empty' "a plain block's stdin is /dev/null even on a terminal"

# SIGKILL of runbook itself: its children die too (the watchdog)
cat >"$TMP/orphan.md" <<'MD'
# Orphans

## Step 1: Long

```bash
sleep 1033 &
sleep 1034
```

## Rollback Procedure

```bash
true
```
MD
"$RUNBOOK" run --yes "$TMP/orphan.md" >/dev/null 2>&1 &
rbpid=$!
for i in $(seq 50); do pgrep -f 'sleep 1034' >/dev/null && break; sleep 0.1; done
ok "pgrep -f 'sleep 1034' >/dev/null" "the block is running"
kill -9 $rbpid
wait $rbpid 2>/dev/null
for i in $(seq 60); do pgrep -f 'sleep 103[34]' >/dev/null || break; sleep 0.1; done
ok "! pgrep -f 'sleep 103[34]' >/dev/null" "after kill -9 of runbook, its block and the block's background job are gone"

# SIGTERM of runbook stops the block and exits 130
"$RUNBOOK" run --yes "$TMP/orphan.md" >"$TMP/term.out" 2>&1 &
rbpid=$!
for i in $(seq 50); do pgrep -f 'sleep 1034' >/dev/null && break; sleep 0.1; done
kill -TERM $rbpid
wait $rbpid
is "$?" 130 "SIGTERM to runbook ends the run with 130"
ok "! pgrep -f 'sleep 1034' >/dev/null" "and the block is gone"

# --- a block that ends its shell: failed, with the status it ended with
printf '# X\n\n## Step 1: Leave\n\n```bash\necho z; exit 0\n```\n\n## Step 2: Leave with 3\n\n```bash exit=3\nexit 3\n```\n\n## Step 3: After\n\n```bash\necho after\n```\n\n## Rollback Procedure\n\n```bash\ntrue\n```\n' >"$TMP/leave.md"
run_rb run --yes --keep-going --no-color "$TMP/leave.md"
is "$rc" 1 "blocks that end their shell fail the run"
like "$out" 'failed: exit 0 \(the block ended its shell, state restored\)' "'exit 0' is reported as exit 0, not 1"
like "$out" 'failed: exit 3 \(the block ended its shell, state restored\)' "'exit 3' with exit=3 still says exit 3 and why it fails"
like "$out" '│ after' "the next step runs in the restarted shell"

# --- q at a step's prompt: that step is aborted, not passed; a hangup there
# leaves the run interrupted and resumable
printf '# Q\n\n## Step 1: One\n\n```bash\necho start1 >> trace\n```\n\n## Step 2: Two\n\n```bash\necho start2 >> trace\n```\n\n## Step 3: Three\n\n```bash\necho start3 >> trace\n```\n\n## Rollback Procedure\n\n```bash\ntrue\n```\n' >"$TMP/quit.md"
(cd "$TMP" && rm -f trace && "$PTY" -t 20 -o quit.pty -- "$RUNBOOK" run --no-color --log quit.jsonl quit.md <<'SCRIPT' >/dev/null 2>&1
expect Step 1/3
expect \[Enter\] run
send \r
expect Step 2/3
expect \[Enter\] run
send q
expect Result
SCRIPT
)
is "$(cat "$TMP/trace")" "start1" "q at step 2's prompt: step 2 did not run"
q=$(tr -d '\r' <"$TMP/quit.pty")
like "$q" '2 +Two +aborted' "the summary says step 2 was aborted"
like "$q" 'aborted by the operator — 1 of 3 steps passed, 0 failed' "and counts it neither passed nor failed"
is "$(grep '"type":"step.end"' "$TMP/quit.jsonl" | tail -1 | jq -r .verdict)" "aborted" "the journal records step 2 as aborted"
is "$(grep '"type":"decision"' "$TMP/quit.jsonl" | jq -r '.choice + " " + .reason')" "abort operator" "with the operator's decision"
(cd "$TMP" && rm -f trace && "$PTY" -t 20 -- "$RUNBOOK" run --no-color --log hup.jsonl quit.md <<'SCRIPT' >/dev/null 2>&1
expect Step 1/3
expect \[Enter\] run
send \r
expect Step 2/3
expect \[Enter\] run
hangup
SCRIPT
)
is "$(grep '"type":"step.end"' "$TMP/hup.jsonl" | tail -1 | jq -r .verdict)" "interrupted" "a hangup at the prompt: the step is interrupted"
ok "! grep -q '\"type\":\"run.end\"' '$TMP/hup.jsonl'" "and the journal has no run.end"
(cd "$TMP" && "$RUNBOOK" run --yes --resume=hup.jsonl quit.md) >"$TMP/hup2.out" 2>&1
is "$?" 0 "so the run resumes"
is "$(tr '\n' ' ' <"$TMP/trace")" "start1 start2 start3 " "and runs steps 2 and 3 once"

done_testing
