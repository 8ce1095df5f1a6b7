#!/usr/bin/env bash
# events.sh - `runbook run --events=json`: the machine-readable stream of a
# run, unattended and answered through stdin, and the options' messages.
. "$(dirname "$0")/../lib/tap.sh"

F=$FIXTURES/events/deploy.md
cd "$TMP" || exit 1

# --- unattended: every line is one JSON object, in order
run_rb run --yes --events=json --var REGION=eu-west --var API_TOKEN=s3cr3t-t0ken-42 --log "$TMP/a.jsonl" "$F"
is "$rc" 1 "the stream's run fails like the terminal's (step 2 fails)"
ok "printf '%s\n' \"\$out\" | jq -e . >/dev/null" "every line of stdout is JSON"
is "$(printf '%s\n' "$out" | jq -r .event | head -1)" "run.start" "the first event is run.start"
is "$(printf '%s\n' "$out" | jq -r .event | tail -1)" "run.end" "the last event is run.end"
is "$(printf '%s\n' "$out" | jq -s '[.[].seq] == [range(1; length + 1)]')" "true" "events are numbered 1, 2, 3, ..."
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="run.end") | .exit')" "1" "run.end carries the exit code"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="step.start") | .step.number' | tr '\n' ' ')" "1 2 " \
	"step.start for steps 1 and 2 (the run stops at the failure)"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="block.end") | .verdict' | tr '\n' ' ')" "passed failed " \
	"block.end carries each verdict"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="block.end" and .verdict=="failed") | .reason')" "exit 4" \
	"the failure's reason"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="output" and .stream=="stderr") | .text')" \
	"ERROR: disk quota exceeded" "output chunks carry their stream"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="suggestions") | .rows[0].fix')" "touch freed.flag" \
	"the documented fix is suggested"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="run.end") | [.steps[] | .verdict] | join(",")')" \
	"passed,failed,not reached" "run.end lists each step's verdict"
unlike "$out" 's3cr3t-t0ken-42' "a secret --var never reaches the stream"
like "$(printf '%s\n' "$out" | jq -r 'select(.event=="output") | .text')" 'token is \*\*\*' "it is masked in the output events"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="note" and (.text | startswith("journal:"))) | .level' | head -1)" "dim" \
	"notes carry a level"
is "$(jq -r 'select(.type=="block.end") | .verdict' "$TMP/a.jsonl" | tr '\n' ' ')" "passed failed " \
	"the journal records what the stream reported"

rm -f freed.flag
# --- answered through stdin: the questions are events, the answers lines
out=$(printf '\n\nf\n\n' | "$RUNBOOK" run --events=json --var REGION=eu-west --var API_TOKEN=x --log "$TMP/b.jsonl" "$F" 2>"$TMP/err")
rc=$?
is "$rc" 0 "answered on stdin: run, run, fix, run -> the run completes"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="ask") | .kind' | tr '\n' ' ')" \
	"before_block before_block on_failure before_block " "each question is an ask event"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="ask" and .kind=="on_failure") | [.choices[].key] | join("")')" \
	"rfsq" "the ask event lists the keys that answer it"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="decision") | .choice + " by " + .by')" "fix by operator" \
	"the decision taken is an event"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="block.end" and .label=="fix") | .verdict')" "passed" \
	"the fix is reported as a block of its own"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="block.start") | .attempt' | tr '\n' ' ')" "1 1 2 1 " \
	"the failed block is retried after the fix (attempt 2)"

rm -f freed.flag
out=$(printf 'x\nq\n' | "$RUNBOOK" run --events=json --var REGION=eu-west --var API_TOKEN=x --log "$TMP/c.jsonl" "$F" 2>"$TMP/err")
rc=$?
is "$rc" 5 "q on stdin aborts (exit 5)"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="ask.invalid") | .answer')" "x" "an answer that is not a choice is reported and asked again"

rm -f freed.flag
out=$(printf '\n' | "$RUNBOOK" run --events=json --var REGION=eu-west --var API_TOKEN=x --log "$TMP/d.jsonl" "$F" 2>"$TMP/err")
rc=$?
is "$rc" 130 "stdin closed at a question: interrupted, resumable (exit 130)"

# --- the dry run as events
run_rb run --dry-run --events=json "$F"
is "$rc" 0 "dry run as events"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="plan" and .n) | .n' | tr '\n' ' ')" "1 2 3 " "one plan event per block that would run"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="run.end") | .blocks')" "3" "run.end of a dry run counts the blocks"

# --- options: one table, a message for each bad value
run_rb run --events=xml "$F"
is "$rc" 2 "--events=xml is a usage error"
like "$err" "--events: 'xml' is not a format \(json\)" "it says which formats there are"
run_rb run --timeout abc "$F"
is "$rc" 2 "--timeout abc is a usage error"
like "$err" "--timeout: 'abc' is not a positive number of seconds" "it says what is wrong with the value"
run_rb run --lock-timeout 3x "$F"
like "$err" "--lock-timeout: '3x' is not a duration" "--lock-timeout says so too"
run_rb run --on-fail=maybe "$F"
like "$err" "--on-fail: 'maybe' is not stop or rollback" "--on-fail names its values"
run_rb run --from zero "$F"
like "$err" "--from: 'zero' is not a step number" "--from names the bad value"
run_rb rollback --from 2 "$F"
like "$err" "--from only applies to run" "rollback refuses run-only options"
run_rb run --help
like "$out" "--events json +one JSON object per event" "the help lists --events"

done_testing
