#!/usr/bin/env bash
# expect.sh - deviations as the operator meets them: diffs, --yes,
# --accept-deviations, accepting through a terminal; bad patterns stop a run
# before anything runs; colour only where it belongs.
. "$(dirname "$0")/../lib/tap.sh"

E=$FIXTURES/expect
cd "$TMP"

# --- the guide's version() output was written on a Mac: it must deviate
NO_COLOR=1 run_rb run --yes "$E/deviates.md"
is "$rc" 1 "a deviating setup fails an unattended run"
like "$out" '✗ deviated: line 3: after "PostgreSQL 1[0-9.]+", expected "on x86_64-apple-darwin21.6.0' "version(): the reason names the platform that differs"
like "$out" '--- expected' "a unified diff is shown"
like "$out" '- PostgreSQL 14.5 on x86_64-apple-darwin21.6.0' "with the expected line"
like "$out" '\+ PostgreSQL 1[0-9.]+ .*linux' "and the actual one"

# --- --accept-deviations carries on, and says so
NO_COLOR=1 run_rb run --yes --accept-deviations "$E/deviates.md"
is "$rc" 0 "--accept-deviations lets the run go on"
like "$out" 'accepted \(--accept-deviations\)' "each acceptance is shown"
like "$out" 'deviated: line 2: after "status:", expected "OK", got "FAILED"' "step 1's reason is precise: numbers may differ, words may not"
like "$out" '1 +Count things +accepted' "the step is recorded as accepted"
log=$(ls -t .runbook/logs/deviates-*.jsonl | head -1)
is "$(jq -r 'select(.type=="decision") | .choice + "/" + .reason + "/" + .by' "$log" | sort -u)" "accept/--accept-deviations/policy" "the journal records every acceptance and who made it"
like "$(jq -r 'select(.type=="block.end" and .verdict=="deviated") | .diff' "$log")" '\+status: FAILED' "the diff is in the journal"

# --- on a terminal: a accept, with a reason
NO_COLOR=1 "$TOOLS_DIR/ptydrive" -t 30 -o "$TMP/acc.log" -- "$RUNBOOK" run "$E/deviates.md" <<SCRIPT >"$TMP/acc.out" 2>&1
expect a accept
send a
expect reason for accepting
send guide written on macOS\r
expect Step 1/2
expect \[Enter\] run
send \r
expect a accept
send r
expect a accept
send s
expect reason for skipping
send counts differ in staging\r
expect Step 2/2
expect \[Enter\] run
send \r
expect Result: completed
SCRIPT
is "$?" 0 "pty: accept, retry, skip: the run completes"
log=$(ls -t .runbook/logs/deviates-*.jsonl | head -1)
is "$(jq -r 'select(.type=="decision") | .choice + ": " + .reason' "$log" | tr '\n' '|')" \
	"accept: guide written on macOS|retry: |skip: counts differ in staging|" "every decision is journaled with its reason"

# --- an invalid pattern stops the run before anything runs
MARKER=$TMP/marker run_rb run --yes "$E/bad-pattern.md"
is "$rc" 3 "an invalid pattern: the run refuses (exit 3)"
like "$err" 'bad-pattern.md:10:5: error: expected output: missing closing parenthesis \[invalid-pattern\]' "with FILE:LINE:COL and PCRE2's message"
ok "[ ! -e '$TMP/marker' ]" "nothing ran"

# --- colour: on a terminal, unless NO_COLOR or --no-color
for mode in colour no_color flag; do
	case $mode in
	colour) env=""; opt="" ;;
	no_color) env="NO_COLOR=1"; opt="" ;;
	flag) env=""; opt="--no-color" ;;
	esac
	env -u NO_COLOR $env "$TOOLS_DIR/ptydrive" -t 20 -o "$TMP/col.$mode" -- "$RUNBOOK" run --yes $opt "$FIXTURES/run/console.md" </dev/null >/dev/null 2>&1
done
ok "grep -q \$'\\033\\[' '$TMP/col.colour'" "colour on a terminal"
ok "! grep -q \$'\\033\\[3' '$TMP/col.no_color'" "no colour with NO_COLOR"
ok "! grep -q \$'\\033\\[3' '$TMP/col.flag'" "no colour with --no-color"

# --- stream=: stdout by default, stderr, or both in the order they came
cat >"$TMP/streams.md" <<'MD'
# Streams

## Step 1: Both, interleaved

```bash
echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2
```

```text stream=both
out1
err1
out2
```

## Step 2: Both, in the wrong order

```bash
echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2
```

```text stream=both
out1
out2
err1
```

## Step 3: Stderr only

```bash
echo visible; echo problem >&2
```

```text stream=stderr
problem
```

## Step 4: Stdout by default

```bash
echo visible; echo problem >&2
```

Expected output:

```
problem
```

## Rollback Procedure

```bash
true
```
MD
NO_COLOR=1 run_rb run --yes --keep-going "$TMP/streams.md"
like "$out" '1 +Both, interleaved +passed' "stream=both judges stdout and stderr in the order they arrived"
like "$out" '2 +Both, in the wrong order +deviated' "and an expectation in another order deviates"
like "$out" '3 +Stderr only +passed' "stream=stderr judges stderr"
like "$out" '4 +Stdout by default +deviated' "by default only stdout is judged"
NO_COLOR=1 run_rb run --yes --keep-going --quiet-output --only 1 "$TMP/streams.md"
like "$out" '1 +Both, interleaved +passed' "--quiet-output judges the same"

done_testing
