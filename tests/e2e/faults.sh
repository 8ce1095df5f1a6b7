#!/usr/bin/env bash
# faults.sh - fault injection, end to end, with the real binary and the
# harness's real PostgreSQL: the server stopped and our backend terminated
# under a running statement, the journal's disk full, runbook killed with
# SIGKILL at 20 random points, commands that close their output, print
# gigabytes, never end or print binary, and runbooks of 100,000 steps,
# 60 MB, deep nesting and a 10,000-row failure table.
#
#   FAULTS_SEED=N   the seed of the random kill points (printed in a diag)
#   FAULTS_BIG=1    the heavy variants: 10 GB of output (2 GB by default),
#                   a run of all 100,000 steps (20,000 by default)
#   FAULTS_CHAIN=1  check each killed journal's chain by hand as well
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/pg.sh"

export NO_COLOR=1
F=$FIXTURES/faults
PTY=$TOOLS_DIR/ptydrive
ZERO=0000000000000000000000000000000000000000000000000000000000000000
cd "$TMP"

# The harness's server is shared by every test of the run: whatever happens
# here, it is running again when this script ends.
pg_server_start() {
	pg_run "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$PG_TMP' -p $PGPORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60" \
		start >>"$TMP/pg_ctl.log" 2>&1
}
pg_server_up() { pg_run "$PG_BINDIR/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }
MOUNTED=
cleanup() {
	pg_server_up || pg_server_start
	[ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# section NAME: the time each part takes, in a diag
_section= _section_t0=
section() {
	local now
	now=$(now_ms)
	[ -n "$_section" ] && diag "time: $_section $(( now - _section_t0 )) ms"
	_section=$1 _section_t0=$now
}

# chain_ok FILE: the journal's complete lines chain: each "prev" is the
# SHA-256 of the line before, "seq" counts up from 0.  A last line without
# its newline (a crash cut it short) is left out, as a verifier does.
chain_ok() {
	local f=$1 complete=$TMP/chain.lines prev=$ZERO n=0 line nl meta
	nl=$(tr -dc '\n' <"$f" | wc -c)
	head -n "$nl" "$f" >"$complete"
	mapfile -t meta < <(jq -r '"\(.seq) \(.prev)"' "$complete" 2>/dev/null)
	[ "${#meta[@]}" = "$nl" ] || { echo "only ${#meta[@]} of $nl lines are JSON records"; return 1; }
	while IFS= read -r line; do
		[ "${meta[n]}" = "$n $prev" ] || { echo "line $((n + 1)): seq/prev ${meta[n]}, want $n $prev"; return 1; }
		prev=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
		n=$((n + 1))
	done <"$complete"
}
# complete FILE: the complete lines of a journal, for jq
complete() { head -n "$(tr -dc '\n' <"$1" | wc -c)" "$1"; }
# verdict FILE: what `runbook verify` says of a journal: unsigned (whole,
# chained, not signed), incomplete (no run.end), broken, ...
verdict() { "$RUNBOOK" verify --json "$1" 2>/dev/null | jq -r .verdict; }

url() { echo "postgresql:///$1?host=$PGHOST&port=$PGPORT&user=postgres"; }
mkdb() { psql -qX -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1; }
# wait_active APP: until a session with that application_name runs a query
wait_active() {
	for _ in $(seq 100); do
		[ "$(psql -AtX -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1' AND state = 'active'" 2>/dev/null)" = 1 ] && return 0
		sleep 0.05
	done
	return 1
}

# ===== the server stopped under a running statement (pg_ctl stop -m immediate)
section "the server stopped under a running statement"
mkdb faults_stop
mkdir stop && cd stop
DATABASE_URL=$(url faults_stop) "$RUNBOOK" run --yes --var COUNTER="$TMP/stop/counter" "$F/pgstop.md" >run.out 2>&1 &
rb=$!
wait_active runbook/pgstop/step-2
ok "wait_active runbook/pgstop/step-2" "step 2's statement is running"
pg_run "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w stop >>"$TMP/pg_ctl.log" 2>&1
ok "! pg_server_up" "the server is stopped (-m immediate) under it"
wait $rb
is "$?" 4 "the run stops as an environment problem (exit 4)"
out=$(cat run.out)
like "$out" 'failed: lost the connection to the database \(ERROR 08006: server closed the connection unexpectedly' "it says the connection was lost, with libpq's reason"
like "$out" "whether the statement took effect is unknown" "and that the statement's effect is unknown"
like "$out" 'records a run that stopped before it finished; continue it with runbook run --resume' "and how to continue"
unlike "$out" '3 ran' "step 3 did not run"
log=$(ls .runbook/logs/pgstop-*.jsonl)
ok "chain_ok '$log'" "the journal's chain holds"
is "$(tail -c1 "$log" | od -An -c | tr -d ' ')" '\n' "it ends with a complete line"
is "$(jq -r 'select(.type=="block.end" and .connection_lost) | .step.number' "$log")" 2 "block.end of step 2 records connection_lost"
unlike "$(jq -r .type "$log")" 'run.end' "there is no run.end: the run is unfinished"

run_rb run --yes --resume --in-flight=rerun "$F/pgstop.md"
is "$rc" 4 "resuming while the server is still down stops again (exit 4)"
like "$out" 'could not connect|connection to server' "saying it cannot connect"
ok "chain_ok '$log'" "the journal still chains"

pg_server_start
ok "pg_server_up" "the server is started again"
run_rb run --yes --resume "$F/pgstop.md"
is "$rc" 2 "an unattended resume without --in-flight is refused"
like "$err" 'step-2 was in flight' "because step 2's statement was cut off"
DATABASE_URL=$(url faults_stop) run_rb run --yes --resume --in-flight=rerun "$F/pgstop.md"
is "$rc" 0 "with the server back, the resumed run completes"
like "$out" 'step-1: passed in the earlier session; not run again' "step 1 is not run again"
like "$out" 'was interrupted or lost its database connection before it finished' "the cut-off statement is named"
is "$(grep -c '1 ran' counter)" 1 "step 1 ran once in all"
is "$(grep -c '3 ran' counter)" 1 "step 3 ran once"
ok "chain_ok '$log'" "the chain holds across the three sessions"
is "$(verdict "$log")" unsigned "runbook verify: whole and chained (unsigned)"
is "$(tail -1 "$log" | jq -r '.type + " " + .result')" "run.end completed" "and it ends with run.end completed"
is "$(jq -r 'select(.type=="run.resume") | .in_flight' "$log" | tr '\n' ' ')" "step-2 step-2 " "both resumes saw step 2 in flight"
cd "$TMP"

# ===== our backend terminated (pg_terminate_backend)
section "our backend terminated"
mkdb faults_term
mkdir term && cd term
DATABASE_URL=$(url faults_term) "$RUNBOOK" run --yes --var COUNTER="$TMP/term/counter" "$F/pgstop.md" >run.out 2>&1 &
rb=$!
wait_active runbook/pgstop/step-2
is "$(psql -AtX -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'runbook/pgstop/step-2'")" t "our backend is terminated under the statement"
wait $rb
is "$?" 4 "the run stops as an environment problem (exit 4)"
like "$(cat run.out)" 'lost the connection to the database \(FATAL 57P01: terminating connection due to administrator command\)' "with the server's own reason, FATAL 57P01"
unlike "$(cat run.out)" 'ERROR :' "no empty SQLSTATE in the message"
log=$(ls .runbook/logs/pgstop-*.jsonl)
ok "chain_ok '$log'" "the journal's chain holds"
DATABASE_URL=$(url faults_term) run_rb run --yes --resume --in-flight=rerun "$F/pgstop.md"
is "$rc" 0 "the resumed run completes"
is "$(grep -c '1 ran' counter)" 1 "step 1 ran once"
ok "chain_ok '$log'" "the chain holds across both sessions"

# at a terminal: retry on a new connection, keeping the run lock
( wait_active runbook/pgstop/step-2 &&
  psql -AtX -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'runbook/pgstop/step-2'" ) >/dev/null 2>&1 &
killer=$!
DATABASE_URL=$(url faults_term) "$PTY" -t 40 -o "$TMP/term/pty.log" -- "$RUNBOOK" run --var COUNTER="$TMP/term/counter2" "$F/pgstop.md" <<SCRIPT >pty.out 2>&1
expect Step 1/3
expect \[Enter\] run
send \r
expect Step 2/3
expect \[Enter\] run
send \r
expect lost the connection to the database
expect r retry
send r
expect retrying
expect passed
expect Step 3/3
expect \[Enter\] run
send \r
expect Result: completed
SCRIPT
is "$?" 0 "at a terminal, r retry after the backend was terminated completes the run"
wait $killer
unlike "$(tr -d '\r' <pty.log)" 'another run of pgstop holds the run lock' "the retry keeps our own run lock (no refusal by ourselves)"
cd "$TMP"

# ===== the journal's disk is full
section "the journal's disk is full"
mkdir full && cd full
mkdir mnt
if mount -t tmpfs -o size=96k tmpfs mnt 2>/dev/null; then
	MOUNTED=$TMP/full/mnt
	# leave about 12 KiB: a journal of this runbook is about 30 KiB
	avail=$(df -k --output=avail mnt | tail -1)
	head -c $(( (avail - 12) * 1024 )) /dev/zero >mnt/filler 2>/dev/null
	diag "journal on a tmpfs with $(df -k --output=avail mnt | tail -1) KiB free"
	"$RUNBOOK" run --yes --log mnt/full.jsonl --var COUNTER="$TMP/full/counter" "$F/diskfull.md" >run.out 2>&1
	frc=$?
	is "$frc" 4 "a full disk stops the run (exit 4)"
	like "$(cat run.out)" 'cannot write mnt/full.jsonl: No space left on device' "it says why"
	like "$(cat run.out)" 'Nothing more can be recorded, so nothing more runs' "and that nothing more runs"
	ok "chain_ok mnt/full.jsonl" "every line written is whole and chained"
	is "$(tail -c1 mnt/full.jsonl | od -An -c | tr -d ' ')" '\n' "no half line is left behind"
	n_started=$(jq -r 'select(.type=="block.start") | .step.number' mnt/full.jsonl | tr '\n' ' ')
	n_ran=$(tr '\n' ' ' <counter)
	is "$n_ran" "$n_started" "exactly the commands with a block.start on disk ran ($n_ran)"
	ok "[ $(jq -r 'select(.type=="step.end")' mnt/full.jsonl | jq -s length) -lt 6 ]" "the run stopped before its end"
	rm -f mnt/filler
	run_rb run --yes --resume=mnt/full.jsonl --in-flight=rerun "$F/diskfull.md"
	is "$rc" 0 "with space again, the run resumes and completes"
	done_before=$(jq -r 'select(.type=="run.resume") | .steps_done[]' mnt/full.jsonl | tr '\n' ' ')
	bad=
	for s in $done_before; do [ "$(grep -cx "${s#step-}" counter)" = 1 ] || bad="$bad $s"; done
	is "$bad" "" "no step done before the disk filled ran again ($done_before)"
	is "$(sort -u counter | tr '\n' ' ')" "1 2 3 4 5 6 " "every step ran"
	ok "chain_ok mnt/full.jsonl" "the resumed journal chains"
	umount mnt && MOUNTED=
else
	diag "cannot mount a tmpfs here: the file size limit stands in for a full disk"
	( ulimit -f 12; "$RUNBOOK" run --yes --log full.jsonl --var COUNTER="$TMP/full/counter" "$F/diskfull.md" ) >run.out 2>&1
	is "$?" 4 "a journal that cannot grow stops the run (exit 4)"
	like "$(cat run.out)" 'cannot write full.jsonl: File too large' "it says why"
	ok "chain_ok full.jsonl" "every line written is whole and chained"
	n_started=$(jq -r 'select(.type=="block.start") | .step.number' full.jsonl | tr '\n' ' ')
	is "$(tr '\n' ' ' <counter)" "$n_started" "exactly the commands with a block.start on disk ran"
	run_rb run --yes --resume=full.jsonl --in-flight=rerun "$F/diskfull.md"
	is "$rc" 0 "without the limit, the run resumes and completes"
	is "$(sort -u counter | tr '\n' ' ')" "1 2 3 4 5 6 " "every step ran"
	ok "chain_ok full.jsonl" "the resumed journal chains"
fi
cd "$TMP"

# ===== SIGKILL at 20 random points of a run
section "SIGKILL at 20 random points of a run"
seed=${FAULTS_SEED:-$(( $(date +%s%N) / 1000 % 1000000 ))}
diag "kill points: seed $seed (FAULTS_SEED=$seed tests/run reproduces them)"
# runbook verify checks each journal; FAULTS_CHAIN=1 checks the chain by
# hand (jq and sha256sum) as well, before the resume
FAULTS_CHAIN=${FAULTS_CHAIN:-}
RANDOM=$seed
mkdir k0 && cd k0
t0=$(now_ms)
"$RUNBOOK" run --yes --var COUNTER="$TMP/k0/counter" "$F/kill.md" >run.out 2>&1
is "$?" 0 "the kill drill runs through when left alone"
full_ms=$(( $(now_ms) - t0 ))
diag "an uninterrupted run takes $full_ms ms"
cd "$TMP"
nsteps=8
kills_ok=0 n_inflight=0 n_nolog=0 n_ended=0 points=
for i in $(seq 20); do
	d=$(( RANDOM % full_ms ))
	points="$points $d"
	dir=$TMP/kill$i
	mkdir "$dir" && cd "$dir"
	mkdir tmp
	export TMPDIR=$dir/tmp
	"$RUNBOOK" run --yes --var COUNTER="$dir/counter" "$F/kill.md" >run.out 2>&1 &
	rb=$!
	sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
	kill -9 $rb 2>/dev/null
	wait $rb 2>/dev/null
	why=
	log=$(ls .runbook/logs/kill-*.jsonl 2>/dev/null | head -1)
	touch counter
	if [ -z "$log" ] || [ "$(tr -dc '\n' <"$log" | wc -c)" = 0 ]; then
		# killed before run.start was on disk: nothing ran, nothing to resume
		n_nolog=$((n_nolog + 1))
		[ -s counter ] && why="$why; a command ran before the journal had run.start"
		"$RUNBOOK" run --yes --resume --in-flight=rerun "$F/kill.md" >resume.out 2>&1
		[ $? = 4 ] || why="$why; resume of an empty journal did not say there is nothing to resume"
		"$RUNBOOK" run --yes --var COUNTER="$dir/counter" "$F/kill.md" >fresh.out 2>&1 || why="$why; a fresh run failed"
	else
		v=$(verdict "$log")
		if grep -q '"type":"run.end"' "$log"; then
			n_ended=$((n_ended + 1))
			[ "$v" = unsigned ] || why="$why; runbook verify says $v of the finished journal"
		else
			[ "$v" = incomplete ] || why="$why; runbook verify says $v before resume (want incomplete)"
			[ -n "$FAULTS_CHAIN" ] && { chain=$(chain_ok "$log") || why="$why; chain before resume: $chain"; }
			done_steps=$(complete "$log" | jq -r 'select(.type=="step.end" and .verdict=="passed" and .step.role=="step") | .step.number' | tr '\n' ' ')
			inflight=$(complete "$log" | jq -rs '[.[] | select(.type=="step.start" or .type=="step.end")] | last // {} | select(.type=="step.start" and .step.role=="step") | .step.number')
			"$RUNBOOK" run --yes --resume --in-flight=rerun "$F/kill.md" >resume.out 2>&1
			rrc=$?
			[ $rrc = 0 ] || why="$why; resume exited $rrc: $(tail -3 resume.out | tr '\n' ' ')"
			for s in $done_steps; do
				[ "$(grep -cx "$s start" counter)" = 1 ] || why="$why; step $s had passed but ran again"
			done
			if [ -n "$inflight" ]; then
				n_inflight=$((n_inflight + 1))
				grep -q "step-$inflight was in flight when the run stopped" resume.out ||
					why="$why; step $inflight was in flight and resume did not say so"
				complete "$log" | jq -r 'select(.type=="decision") | .choice + " " + .about' | grep -qx "re-run in-flight step step-$inflight" ||
					why="$why; no decision recorded for in-flight step $inflight"
			fi
			[ "$(tail -1 "$log" | jq -r .result)" = completed ] || why="$why; the resumed journal does not end with run.end completed"
			v=$(verdict "$log")
			[ "$v" = unsigned ] || why="$why; runbook verify says $v after resume"
		fi
	fi
	for s in $(seq $nsteps); do
		grep -qx "$s done" counter || why="$why; step $s never completed"
	done
	if [ -z "$why" ]; then
		kills_ok=$((kills_ok + 1))
	else
		diag "kill $i at ${d} ms:${why}"
	fi
	cd "$TMP"
done
unset TMPDIR
# the watchdog removes a killed run's work directory (block files, shell
# state with its secrets) once the run's processes are gone
for _ in $(seq 50); do
	left=$(find "$TMP"/kill*/tmp -mindepth 1 -maxdepth 1 | wc -l)
	[ "$left" = 0 ] && break
	sleep 0.1
done
is "$left" 0 "no killed run leaves its work directory behind"
diag "kill points (ms):$points; $n_inflight with a step in flight, $n_nolog before run.start, $n_ended after run.end"
is "$kills_ok" 20 "after each of 20 kill -9: runbook verify accepts the complete lines, resume completes, no passed step runs again, the in-flight step is asked about"

# a step marked done on one resume is not asked about on the next
mkdir twice && cd twice
c=$TMP/twice/counter
"$RUNBOOK" run --yes --var COUNTER="$c" --var KILL_AT=step2 "$FIXTURES/journal/crash.md" >/dev/null 2>&1
rm -f "$c.killed"
"$RUNBOOK" run --yes --resume --in-flight=done:checked --var COUNTER="$c" --var KILL_AT=step3 "$FIXTURES/journal/crash.md" >r1.out 2>&1
is "$?" 137 "killed again in step 3 after marking step 2 done"
run_rb run --yes --resume --in-flight=rerun "$FIXTURES/journal/crash.md"
is "$rc" 0 "the second resume completes"
like "$out" 'step-2: accepted in the earlier session; not run again' "step 2, marked done before, counts as done"
like "$out" 'step-3 was in flight' "step 3 is the one asked about"
is "$(grep -c '^two$' "$c")" 1 "step 2 ran once in all"
ok "chain_ok '$(ls .runbook/logs/crash-*.jsonl)'" "the journal of three sessions chains"
cd "$TMP"

# ===== Ctrl-C (SIGINT) and SIGTERM leave a run that resumes
section "Ctrl-C"
mkdir term2 && cd term2
cat >slow.md <<'MD'
# Slow

## Step 1: Quick

```bash
echo "1 ran" >> "$COUNTER"
```

## Step 2: Slow

```bash
echo "2 ran" >> "$COUNTER"
sleep "${NAP:-30.25}"
```

## Step 3: Last

```bash
echo "3 ran" >> "$COUNTER"
```

## Rollback Procedure

```bash
true
```
MD
"$RUNBOOK" run --yes --var COUNTER="$TMP/term2/counter" slow.md >run.out 2>&1 &
rb=$!
for _ in $(seq 100); do grep -q '2 ran' counter 2>/dev/null && break; sleep 0.05; done
kill -TERM $rb
wait $rb
is "$?" 130 "SIGTERM ends the run with 130 (interrupted, resumable)"
log=$(ls .runbook/logs/slow-*.jsonl)
unlike "$(jq -r .type "$log")" 'run.end' "the interrupted run has no run.end"
run_rb run --yes --resume --in-flight=rerun --var NAP=0 slow.md
is "$rc" 0 "the interrupted run resumes and completes"
like "$out" 'step-2 was in flight' "resume asks about the interrupted step"
like "$out" 'step-1: passed in the earlier session' "and does not run step 1 again"
ok "chain_ok '$log'" "the journal chains"
cd "$TMP"

# ===== a command that closes stdout but keeps running
section "a command that closes stdout but keeps running"
mkdir closeout && cd closeout
t0=$(now_ms)
run_rb run --yes --var MARK="$TMP/closeout/mark" "$F/closeout.md"
took=$(( $(now_ms) - t0 ))
is "$rc" 0 "a block that closes stdout and stderr and keeps running passes"
ok "[ -e mark.block-done ]" "it ran to its end after closing them"
like "$out" '│ step two prints' "the next block prints as usual"
like "$out" '! step two warns' "on stderr too"
like "$out" '│ step three done' "a block whose background job keeps stdout open ends"
ok "[ $took -lt 3500 ]" "without waiting for the background jobs (${took} ms)"
cd "$TMP"

# ===== a command that never ends
section "a command that never ends"
mkdir never && cd never
t0=$(now_ms)
run_rb run --yes --keep-going --kill-grace 1 --var PIDFILE="$TMP/never/pid" "$F/never.md"
took=$(( $(now_ms) - t0 ))
is "$rc" 1 "blocks that never end fail the run"
like "$out" '1 +Sleeps forever +timed out' "a sleeping block times out"
like "$out" '2 +Ignores SIGTERM, never ends +timed out' "a block that ignores SIGTERM times out too"
ok "[ $took -lt 8000 ]" "both are stopped within their timeout and grace (${took} ms)"
sleep 0.2
ok "! kill -0 $(cat pid 2>/dev/null || echo 999999) 2>/dev/null" "the SIGTERM-ignoring shell is gone (SIGKILL)"
ok "! pgrep -f 'sleep 86399.5' >/dev/null" "no sleeper survives"
cd "$TMP"

# ===== binary and invalid UTF-8 output
section "binary and invalid UTF-8 output"
mkdir bin && cd bin
run_rb run --yes --log bin.jsonl --var OUT="$TMP/bin/out.bin" "$F/output.md"
is "$rc" 0 "binary output, invalid UTF-8, NUL and escapes: the run passes"
ok "jq -e . bin.jsonl >/dev/null" "every journal line is valid JSON"
ok "chain_ok bin.jsonl" "and chained"
s1=$(jq -r 'select(.type=="block.end" and .step.number==1) | .stdout' bin.jsonl)
is "$(printf '%s' "$s1" | jq -r .sha256)" "$(sha256sum <out.bin | cut -d' ' -f1)" "stdout.sha256 is over the raw bytes"
is "$(printf '%s' "$s1" | jq -r .bytes)" "$(stat -c %s out.bin)" "stdout.bytes counts them"
like "$(printf '%s' "$s1" | jq -r .text)" 'valid café \\xff\\xfe stray \\x80 overlong \\xc0\\xaf nul ' "invalid bytes are kept as \\xNN, valid UTF-8 as it is"
like "$(jq -r 'select(.type=="block.end" and .step.number==1) | .stderr.text' bin.jsonl)" 'err \\xff' "on stderr too"
like "$out" '│ after the binary' "the next step runs and matches"
cd "$TMP"

# ===== a command that prints 10 GB (2 GB unless FAULTS_BIG=1)
section "a command that prints 10 GB"
mkdir big && cd big
mkdir tmpdir
if [ -n "${FAULTS_BIG:-}" ]; then bytes=10000000000; else bytes=2000000000; fi
diag "printing $((bytes / 1000000000)) GB$([ -z "${FAULTS_BIG:-}" ] && echo '; FAULTS_BIG=1 prints 10 GB')"
bound=49152
[ -n "${ASAN_OPTIONS:-}" ] && bound=262144
( peak=0; while :; do
	s=$(find tmpdir -name 'spill-*' -printf '%s\n' 2>/dev/null | sort -n | tail -1)
	[ -n "$s" ] && [ "$s" -gt "$peak" ] && { peak=$s; echo "$peak" >spill.peak; }
	sleep 0.2
  done ) &
watcher=$!
t0=$(now_ms)
TMPDIR=$TMP/big/tmpdir ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:quarantine_size_mb=4}" \
	"$TOOLS_DIR/maxrss" "$RUNBOOK" run --yes --quiet-output --log big.jsonl --var BYTES=$bytes "$F/bigout.md" >run.out 2>rss.err
brc=$?
took=$(( $(now_ms) - t0 ))
kill $watcher 2>/dev/null; wait $watcher 2>/dev/null
is "$brc" 0 "$((bytes / 1000000000)) GB of output passes"
rss=$(awk '/^maxrss_kib/ {print $2}' rss.err)
diag "$((bytes / 1000000000)) GB in ${took} ms ($(( bytes / 1000 / (took > 0 ? took : 1) )) MB/s), peak RSS ${rss} KiB, largest spill file $(cat spill.peak 2>/dev/null || echo 0) bytes"
ok "[ '$rss' -lt $bound ]" "peak RSS stays under ${bound} KiB (${rss} KiB)"
ok "[ $(cat spill.peak 2>/dev/null || echo 0) -le 1073741824 ]" "the spill file never grows past its 1 GiB cap"
ok "[ $(cat spill.peak 2>/dev/null || echo 0) -gt 0 ]" "(the spill file was seen)"
is "$(ls -A tmpdir)" "" "the work directory and its spill file are gone afterwards"
is "$(jq -r 'select(.type=="block.end") | "\(.stdout.bytes) \(.stdout.truncated) \(.stdout.text | length)"' big.jsonl)" "$((bytes + 1)) true 65536" "the journal counts every byte and keeps 64 KiB of text"
cd "$TMP"

# ===== a runbook of 100,000 steps
section "a runbook of 100,000 steps"
mkdir many && cd many
awk 'BEGIN { print "# Many steps\n"; for (i = 1; i <= 100000; i++) printf "## Step %d: S%d\n\n```bash\n: %d\n```\n\n", i, i, i; print "## Rollback Procedure\n\n```bash\ntrue\n```" }' >many.md
t0=$(now_ms)
run_rb check many.md
is "$rc" 0 "check of 100,000 steps: no errors"
like "$err" '1 file checked: 0 errors, 100000 warnings' "one warning per step (no expectation)"
diag "check of 100,000 steps: $(( $(now_ms) - t0 )) ms"
t0=$(now_ms)
is "$("$RUNBOOK" show --json many.md | jq '.steps | length')" 100000 "show --json lists 100,000 steps"
diag "show --json of 100,000 steps: $(( $(now_ms) - t0 )) ms"
# Running them: every journal line is fdatasync'd, which on a disk is most
# of the cost (400,000 syncs), so the journal goes to a tmpfs; and a run of
# all 100,000 takes over a minute here, so by default 20,000 of them run
# (FAULTS_BIG=1: all of them).
nrun=20000
[ -n "${FAULTS_BIG:-}" ] && nrun=100000
awk -v n=$nrun '/^## Step / { s++ } s > n && /^## Step / { exit } { print }' many.md >run.md
[ $nrun -lt 100000 ] && printf '## Rollback Procedure\n\n```bash\ntrue\n```\n' >>run.md
jlog=$TMP/many/many.jsonl
[ -d /dev/shm ] && [ -w /dev/shm ] && jlog=$(mktemp -u /dev/shm/runbook-faults-XXXXXX.jsonl)
diag "running $nrun of the steps, journal on $(df --output=fstype "$(dirname "$jlog")" | tail -1)$([ $nrun -lt 100000 ] && echo '; FAULTS_BIG=1 runs all 100,000')"
t0=$(now_ms)
"$TOOLS_DIR/maxrss" "$RUNBOOK" run --yes --quiet-output --log "$jlog" run.md >run.out 2>rss.err
mrc=$?
took=$(( $(now_ms) - t0 ))
is "$mrc" 0 "a run of $nrun steps completes"
like "$(cat run.out)" "Result: completed — $nrun of $nrun steps passed" "every step passed"
is "$(jq -c 'select(.type=="step.end" and .verdict=="passed")' "$jlog" | wc -l)" $nrun "the journal has $nrun passed step.end records"
is "$(tail -1 "$jlog" | jq -r .seq)" "$(( $(wc -l <"$jlog") - 1 ))" "and its seq runs without a gap"
is "$(verdict "$jlog")" unsigned "runbook verify: whole and chained"
diag "run of $nrun steps: ${took} ms, peak RSS $(awk '/^maxrss_kib/ {print $2}' rss.err) KiB, journal $(stat -c %s "$jlog") bytes on $(df --output=fstype "$jlog" | tail -1)"
rm -f "$jlog"
cd "$TMP"

# ===== a 60 MB runbook (the limit is 64 MiB)
section "a 60 MB runbook"
mkdir sixty && cd sixty
awk 'BEGIN {
	para = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."
	print "# Sixty megabytes\n"
	for (i = 1; i <= 300; i++) {
		printf "## Step %d: Part %d\n\n### Why This Step\n\n", i, i
		for (k = 0; k < 1620; k++) printf "%s ", para; printf "\n\n"
		printf "### Commands\n\n```bash\necho part-%d\n```\n\nExpected:\n```\npart-%d\n```\n\n", i, i
	}
	print "## Rollback Procedure\n\n```bash\ntrue\n```"
}' >sixty.md
size=$(stat -c %s sixty.md)
diag "sixty.md is $size bytes"
ok "[ $size -gt 60000000 ] && [ $size -lt 67108864 ]" "the runbook is over 60 MB and under 64 MiB"
run_rb check sixty.md
is "$rc" 0 "check of a 60 MB runbook passes"
is "$("$RUNBOOK" show --json sixty.md | jq -r '[(.steps | length), (.steps[-1].why | length > 200000)] | map(tostring) | join(" ")')" "300 true" "show --json has its 300 steps and their long Why"
run_rb run --yes --quiet-output --log sixty.jsonl sixty.md
is "$rc" 0 "and it runs"
head -c $((64 * 1024 * 1024 + 1)) /dev/zero | tr '\0' 'x' >over.md
run_rb check over.md
is "$rc" 3 "a runbook over 64 MiB is refused (exit 3)"
like "$err" 'larger than the 64 MiB limit' "saying why"
cd "$TMP"

# ===== deeply nested Markdown
section "deeply nested Markdown"
mkdir nest && cd nest
deep() { head -c "$2" /dev/zero | tr '\0' "$1"; }
{ printf '# Nested\n\n## Step 1: One\n\n```bash\necho one\n```\n\n'
  deep '>' 100000; printf ' ```bash\n\n'
  for _ in $(seq 2000); do printf '> - '; done; printf 'deep\n\n'
  deep '*' 50000; printf 'x'; deep '*' 50000; printf '\n\n'
  deep '[' 50000; printf 'x'; deep ']' 50000; printf '\n\n'
  printf '## Rollback Procedure\n\n```bash\ntrue\n```\n'
} >nest.md
run_rb check nest.md
is "$rc" 0 "check of 100,000 nested block quotes, 4,000 nested quote-lists, 50,000 nested emphasis and brackets: no crash"
like "$out" 'nest.md:9:1: warning: block quotes and lists nested more than 32 deep: what is inside is not read as commands \[nesting-too-deep\]' "it warns where the nesting gets too deep"
is "$("$RUNBOOK" show --json nest.md | jq -r '.steps[0].commands | length')" 1 "show --json: the step has its one command"
run_rb run --yes nest.md
is "$rc" 0 "and it runs"
cd "$TMP"

# ===== a failure table of 10,000 rows
section "a failure table of 10,000 rows"
mkdir table && cd table
{ printf '# Failure table\n\n## Step 1: Fails\n\n```bash\necho "error E9999: widget 9999 jammed" >&2\nexit 3\n```\n\n### If This Fails\n\n| Error | Cause | Solution |\n|---|---|---|\n'
  awk 'BEGIN { for (i = 0; i < 10000; i++) printf "| `error E%04d: widget %d jammed` | widget %d is stuck | run `echo unjam-%d` |\n", i, i, i, i }'
  printf '\n## Rollback Procedure\n\n```bash\ntrue\n```\n'
} >table.md
t0=$(now_ms)
run_rb run --yes --log table.jsonl table.md
took=$(( $(now_ms) - t0 ))
is "$rc" 1 "the step fails"
like "$out" 'error E9999: widget 9999 jammed' "the row for this error is found among 10,000"
like "$out" 'solution: run `echo unjam-9999`' "with its solution"
ok "[ $took -lt 10000 ]" "promptly (${took} ms)"
is "$(jq -r 'select(.type=="suggestions") | .rows[0].error' table.jsonl)" '`error E9999: widget 9999 jammed`' "the journal records the suggestion"
run_rb run --yes --auto-fix --log table2.jsonl table.md
like "$out" '│ unjam-9999' "--auto-fix runs that row's fix"
cd "$TMP"

section ""
done_testing
