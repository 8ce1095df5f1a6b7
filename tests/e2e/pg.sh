#!/usr/bin/env bash
# pg.sh - PostgreSQL-native features of `runbook run` against the harness's
# real server: SQL blocks, preflight, the run lock, the lock guard rail, the
# final state, the sandbox and rehearse (as root and as a normal user).
. "$(dirname "$0")/../lib/tap.sh"

P=$FIXTURES/pg
export NO_COLOR=1
cd "$TMP"

url() { echo "postgresql:///$1?host=$PGHOST&port=$PGPORT&user=postgres"; }
mkdb() { psql -qX -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1; }

# --- SQL blocks: psql-style output, application_name, errors with SQLSTATE and line
mkdb pg_sql
DATABASE_URL=$(url pg_sql) run_rb run --yes "$P/sql-blocks.md"
is "$rc" 1 "the runbook fails at its broken step"
like "$out" '│ INSERT 0 2' "command tags as psql prints them"
like "$out" '│   2 \| two;with;semicolons' "semicolons inside strings do not split statements"
like "$out" '│ \(2 rows\)' "row counts as psql prints them"
like "$out" '1/3: Create and fill' "first step header"
like "$out" '│ runbook/sql-blocks/step-2' "psql started by a shell block carries application_name runbook/<runbook>/<step>"
like "$out" '│  runbook/sql-blocks/step-2' "the SQL connection carries it too"
like "$out" 'ERROR 42P01: relation "no_such_table" does not exist \(.*sql-blocks.md:38\)' "an SQL error shows SQLSTATE, message and the statement's line in the runbook"
like "$out" 'SQLSTATE 42P01' "the diagnosis shows the SQLSTATE"
unlike "$out" 'Step 1/3.*deviated' "the expected table matches"

# --- preflight: checks against the server, and another session's open transaction
mkdb pg_pre
DATABASE_URL=$(url pg_pre) run_rb run --yes "$P/preflight.md"
is "$rc" 0 "preflight passes on an idle database"
like "$out" '✓ PostgreSQL 14\+ is installed and running +server 1[0-9.]+.* answers \(needs 14\+\)' "version checked against 14+"
like "$out" '✓ You have admin access to the database +postgres is a superuser' "privileges checked"
like "$out" '✓ No active transactions are running against the database +no other session' "open transactions checked"
like "$out" 'free disk space cannot be seen from SQL' "free disk: says it cannot be checked and asks"

psql -X -d pg_pre -c "BEGIN; CREATE TABLE held (id int); SELECT pg_sleep(30);" >/dev/null 2>&1 &
holder=$!
for i in $(seq 50); do
	[ "$(psql -AtX -d pg_pre -c "SELECT count(*) FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND datname = 'pg_pre'")" -gt 0 ] && break
	sleep 0.1
done
DATABASE_URL=$(url pg_pre) run_rb run --yes "$P/preflight.md"
is "$rc" 4 "preflight refuses to start while another session has an open transaction (exit 4)"
like "$out" '✗ No active transactions are running against the database' "the check fails"
like "$out" 'pid [0-9]+, active for .*SELECT pg_sleep\(30\)' "with the other session's pid, state, age and query"
unlike "$out" 'Step 1/1' "no step runs"
# a role that may not see other roles' sessions cannot say there are none
psql -qX -d postgres -c "DROP ROLE IF EXISTS rb_plain" -c "CREATE ROLE rb_plain LOGIN" \
	-c "GRANT CREATE ON DATABASE pg_pre TO rb_plain" >/dev/null 2>&1
psql -qX -d pg_pre -c "GRANT CREATE ON SCHEMA public TO rb_plain" >/dev/null
DATABASE_URL="postgresql:///pg_pre?host=$PGHOST&port=$PGPORT&user=rb_plain" run_rb run --yes "$P/preflight.md"
like "$out" '\? No active transactions are running against the database +\(confirmed by --yes; cannot be checked: 1 session of other roles on this database is hidden from rb_plain' \
	"a role without pg_read_all_stats: the check says it cannot see, instead of passing"
unlike "$out" '✓ No active transactions' "and does not pass it"
kill $holder 2>/dev/null; wait $holder 2>/dev/null
psql -qX -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'pg_pre' AND pid <> pg_backend_pid()" >/dev/null

# --- the run lock: a second run of the same runbook on the same database is refused
mkdb pg_lock
DATABASE_URL=$(url pg_lock) "$RUNBOOK" run --yes "$P/slow.md" >"$TMP/first.out" 2>&1 &
first=$!
for i in $(seq 50); do
	[ "$(psql -AtX -d pg_lock -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'runbook/slow/lock'")" -gt 0 ] && break
	sleep 0.1
done
DATABASE_URL=$(url pg_lock) run_rb run --yes "$P/slow.md"
is "$rc" 4 "the second concurrent run is refused (exit 4)"
like "$out" 'another run of slow holds the run lock' "it says why"
like "$out" 'pid [0-9]+, application_name runbook/slow/lock, user postgres, client local socket, started 20' "with the holder's pid, application_name, client and start time"
wait $first
is "$?" 0 "the first run completes"
DATABASE_URL=$(url pg_lock) run_rb run --yes "$P/slow.md"
is "$rc" 0 "once it is done the lock is free again"

# --- guard rail: DDL waits at most lock_timeout, retries, never queues in front of others
mkdb pg_busy
psql -qX -d pg_busy -c "CREATE TABLE busy (id int); INSERT INTO busy SELECT generate_series(1, 1000);" >/dev/null
psql -X -d pg_busy -c "BEGIN; SELECT count(*) FROM busy; SELECT pg_sleep(8);" >/dev/null 2>&1 &
reader=$!
sleep 0.5
# a third session keeps reading while our ALTER tries
( end=$((SECONDS + 4)); while [ $SECONDS -lt $end ]; do
	s=$(date +%s%N); psql -qAtX -d pg_busy -c "SELECT count(*) FROM busy" >/dev/null; e=$(date +%s%N)
	echo $(( (e - s) / 1000000 ))
  done >"$TMP/waits" ) &
third=$!
DATABASE_URL=$(url pg_busy) run_rb run --yes --lock-timeout 300ms "$P/locked.md"
wait $third
is "$rc" 1 "the ALTER gives up while a long transaction holds the table"
like "$out" 'ERROR 55P03: canceling statement due to lock timeout.* after 2 lock-timeout retries' "it fails with 55P03 after its 2 retries"
max=$(sort -n "$TMP/waits" | tail -1)
diag "longest wait of the third session: ${max} ms (lock_timeout 300 ms)"
ok "[ -n '$max' ] && [ '$max' -lt 1300 ]" "a third session is never blocked longer than the lock timeout plus 1 s"
kill $reader 2>/dev/null; wait $reader 2>/dev/null
psql -qX -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'pg_busy' AND pid <> pg_backend_pid()" >/dev/null
DATABASE_URL=$(url pg_busy) run_rb run --yes --lock-timeout 300ms "$P/locked.md"
is "$rc" 0 "once the long transaction is gone the ALTER goes through"

# --- the lock monitor: a block that blocks other sessions past the runbook's
# rollback trigger ("Blocked queries > 2 seconds") is stopped
mkdb pg_mon
psql -qX -d pg_mon -c "CREATE TABLE hot (id int); INSERT INTO hot VALUES (1);" >/dev/null
DATABASE_URL=$(url pg_mon) "$RUNBOOK" run --yes "$P/blocker.md" >"$TMP/mon.out" 2>&1 &
mon=$!
for i in $(seq 100); do
	[ "$(psql -AtX -d pg_mon -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'hot' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && break
	sleep 0.1
done
start=$(date +%s)
victim=$(psql -AtX -d pg_mon -c "SELECT count(*) FROM hot")
waited=$(( $(date +%s) - start ))
wait $mon
mrc=$?
mout=$(cat "$TMP/mon.out")
is "$mrc" 1 "a block that blocks others past the trigger fails the run"
like "$mout" 'rollback triggers \(line 5\): blocking other sessions longer than 2s, a run longer than 10 min' "the thresholds come from the runbook's Rollback Triggers"
like "$mout" '⚠ blocking 1 session \(longest [0-9.]+ (ms|s)\): pid [0-9]+ SELECT count\(\*\) FROM hot' "the monitor shows the blocked session live"
like "$mout" 'failed: blocked pid [0-9]+ for more than 2 s' "the block is stopped with the reason"
is "$victim" 1 "the blocked session got its answer once the block was stopped"
ok "[ $waited -lt 15 ]" "it was not kept waiting for the block's 30 s (waited ${waited} s)"
log=$(ls -t .runbook/logs/blocker-*.jsonl | head -1)
like "$(jq -r 'select(.type=="monitor") | .summary' "$log")" 'blocking 1 session' "the monitor's samples are in the journal"

# --- final state: checked by column name, pass and fail
mkdb pg_final
DATABASE_URL=$(url pg_final) run_rb run --yes "$P/final-state.md"
is "$rc" 1 "a final state that is not reached fails the run"
like "$out" '✓ one_exists = 1' "a metric that holds passes"
like "$out" '✗ two_exists = 0, expected 1' "a metric that does not is shown with its actual value"
psql -qX -d pg_final -c "CREATE TABLE fs_two (id int)" >/dev/null
DATABASE_URL=$(url pg_final) run_rb run --yes "$P/final-state.md"
is "$rc" 0 "with both tables the final state passes"

# --- rehearse: forward, rollback, schema compared, forward again
mkdir -p "$TMP/sbx"
TMPDIR="$TMP/sbx" run_rb rehearse "$FIXTURES/../../runbooks/001-add-last-login-at.md"
is "$rc" 0 "rehearse of the seed-001 runbook passes"
like "$out" 'schema restored +passed +identical to before' "the schema after the rollback is the schema before"
like "$out" 'forward again +passed' "the forward run passes a second time"
like "$out" 'Verdict: REHEARSED' "one-screen verdict"
TMPDIR="$TMP/sbx" run_rb rehearse "$P/rehearse-bad.md"
is "$rc" 1 "a rollback that leaves a table behind fails the rehearsal"
like "$out" 'schema restored +FAILED +DIFFERS from before' "the schema difference is reported"
like "$out" 'CREATE TABLE public.rb_b' "with the leftover shown"
is "$(ls -A "$TMP/sbx")" "" "rehearse leaves no sandbox or scratch directory behind"

# --- the sandbox as a normal user (when the tests run as root)
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$TMP/nobody"
	chown nobody "$TMP/nobody"
	cp "$FIXTURES/../../runbooks/001-add-last-login-at.md" "$TMP/nobody/"
	mkdir -p "$TMP/nobody/runbooks/seeds"
	cp "$FIXTURES/../../runbooks/seeds/users.sql" "$TMP/nobody/runbooks/seeds/"
	chown -R nobody "$TMP/nobody"
	(cd "$TMP/nobody" && HOME="$TMP/nobody" TMPDIR="$TMP/nobody" runuser -u nobody -- \
		"$RUNBOOK" rehearse 001-add-last-login-at.md) >"$TMP/nobody.out" 2>&1
	is "$?" 0 "rehearse as a normal user (nobody) passes"
	like "$(cat "$TMP/nobody.out")" 'Verdict: REHEARSED' "with the same verdict"
	(cd "$TMP/nobody" && HOME="$TMP/nobody" TMPDIR="$TMP/nobody" runuser -u nobody -- \
		"$RUNBOOK" run --yes --sandbox 001-add-last-login-at.md) >"$TMP/nobody2.out" 2>&1
	is "$?" 0 "run --sandbox as a normal user passes"
else
	run_rb run --yes --sandbox "$FIXTURES/../../runbooks/001-add-last-login-at.md"
	is "$rc" 0 "run --sandbox as a normal user passes"
fi
run_rb run --yes --sandbox "$FIXTURES/../../runbooks/001-add-last-login-at.md"
is "$rc" 0 "run --sandbox as $(id -un) passes"
like "$out" 'sandbox: PostgreSQL in .*loaded .*users.sql' "the sandbox is seeded from the runbook's Seed data"
# NOTICEs and results of a SQL block, with stream=both, in the order psql shows them
mkdb pg_notice
cat >"$TMP/notice.md" <<'MD'
# Notices

## Step 1: Twice

```sql
CREATE TABLE IF NOT EXISTS nt (id int);
CREATE TABLE IF NOT EXISTS nt (id int);
```

```text stream=both
CREATE TABLE
NOTICE:  relation "nt" already exists, skipping
CREATE TABLE
```

## Rollback Procedure

```sql
DROP TABLE IF EXISTS nt;
```
MD
DATABASE_URL=$(url pg_notice) run_rb run --yes --no-color "$TMP/notice.md"
is "$rc" 0 "a NOTICE between two results matches stream=both written from a psql session"

# a huge result (100,000 rows of 1 kB) is formatted in parts: memory stays
# bounded, the header comes once, the footer counts every row
mkdb pg_big
cat >"$TMP/bigsql.md" <<'MD'
# Big result

## Step 1: 100 MB of rows

```sql
SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 100000) g;
```

## Rollback Procedure

```sql
SELECT 1;
```
MD
bound=65536
if [ -n "${ASAN_OPTIONS:-}" ]; then bound=262144; fi
DATABASE_URL=$(url pg_big) ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:quarantine_size_mb=4}" \
	"$TOOLS_DIR/maxrss" "$RUNBOOK" run --yes --log "$TMP/bigsql.jsonl" "$TMP/bigsql.md" >"$TMP/bigsql.out" 2>"$TMP/bigsql.rss"
is "$?" 0 "a 100 MB result passes"
rss=$(awk '/^maxrss_kib/ {print $2}' "$TMP/bigsql.rss")
diag "peak RSS with a 100 MB result: ${rss} KiB (bound ${bound} KiB)"
ok "[ '$rss' -lt $bound ]" "peak RSS stays under the bound (${rss} KiB)"
is "$(grep -c '^  │  *g *| *pad' "$TMP/bigsql.out")" 1 "the header is shown once"
like "$(cat "$TMP/bigsql.out")" '│ \(100000 rows\)' "the footer counts all 100000 rows"

# the database known only after the setup: the prerequisites about it are
# checked then, and the others are not asked a second time
cat >"$TMP/deferred.md" <<'MD'
# Deferred

## Prerequisites

- [ ] Enough free disk space for a copy of users
- [ ] No active transactions are running against the database

## Environment Setup

```bash
export DATABASE_URL="$TARGET"
```

## Step 1: Query

```sql
SELECT 1 AS one;
```

## Rollback Procedure

```bash
true
```
MD
mkdb pg_deferred
env -u PGHOST -u PGPORT -u PGDATABASE -u PGUSER -u DATABASE_URL "$RUNBOOK" run --yes --no-color \
	--var TARGET="$(url pg_deferred)" "$TMP/deferred.md" >"$TMP/deferred.out" 2>&1
is "$?" 0 "a runbook whose setup names the database runs"
deferred=$(cat "$TMP/deferred.out")
like "$deferred" '✓ No active transactions are running against the database +no other session has an open transaction' "the transaction check runs once the setup named the database"
is "$(grep -c 'Enough free disk space' "$TMP/deferred.out")" 1 "the disk prerequisite is confirmed once, not again after the setup"

# a database that cannot be reached is said so before the first step
printf '# U\n\n## Step 1: Shell\n\n```bash\necho hi\n```\n\n## Rollback Procedure\n\n```bash\ntrue\n```\n' >"$TMP/unreach.md"
run_rb run --yes --no-color --db "postgresql:///postgres?host=$TMP/nowhere&port=1" "$TMP/unreach.md"
like "$out" 'database: cannot connect \(.*\): the run lock is not taken' "an unreachable --db is reported, with the run lock not taken"

# from inside runbooks/, the runbook named without a directory: the seed
# (runbooks/seeds/users.sql) is found through the runbook's parent
mkdir -p "$TMP/inrb/runbooks/seeds"
cp "$FIXTURES/../../runbooks/001-add-last-login-at.md" "$TMP/inrb/runbooks/"
cp "$FIXTURES/../../runbooks/seeds/users.sql" "$TMP/inrb/runbooks/seeds/"
(cd "$TMP/inrb/runbooks" && "$RUNBOOK" run --yes --sandbox 001-add-last-login-at.md) >"$TMP/inrb.out" 2>&1
is "$?" 0 "run --sandbox of a bare file name from its own directory passes"
like "$(cat "$TMP/inrb.out")" 'loaded .*users.sql' "and finds the seed"

done_testing
