# Case 4: the database must not wait.  A pgbench load (select-only and
# simple-update scripts, a few clients) on the sandbox PostgreSQL with its
# users table, while
#   (a) seed 001's runbook runs (runbooks/001-add-last-login-at.md), and
#   (b) a session holds a transaction open on users and the runbook's
#       ALTER TABLE step has to wait;
# each against the same SQL piped into `psql -f`.  pgbench logs every
# transaction (-l); latency percentiles and the longest wait per second
# come from those logs.

# pgb_stats PREFIX START_EPOCH: one line "n p50 p95 p99 max" (ms) and the
# per-second maxima (ms) on a second line
pgb_stats() {
	local lat
	lat=$(mktemp)
	cat "$1".* 2>/dev/null | awk '{ printf "%.3f\n", $3 / 1000.0 }' | sort -g >"$lat"
	awk '{ l[NR] = $1 } END {
		n = NR
		if (!n) { print "0 0 0 0 0"; exit }
		printf "%d %.2f %.2f %.2f %.2f\n", n, l[int(n * 0.5) + 1], l[int(n * 0.95) + 1], l[int(n * 0.99) + 1], l[n] }' "$lat"
	rm -f "$lat"
	cat "$1".* 2>/dev/null | awk -v t0="$2" '
		{ lat = $3 / 1000.0; sec = int($5 + $6 / 1e6 - t0)
		  if (sec >= 0 && lat > mx[sec]) mx[sec] = lat
		  if (sec > last) last = sec }
		END { for (s = 0; s <= last; s++) printf "%s%.0f", (s ? " " : ""), mx[s] + 0; printf "\n" }'
}

case_4() {
	local d=$W/c4 T hold t_block t_ddl lt lt_flag clients=4
	mkdir -p "$d"
	if [ -n "$SMOKE" ]; then
		T=3; hold=1; t_block=0.5; t_ddl=1; lt=500; lt_flag="--lock-timeout 0.5"
	else
		T=20; hold=10; t_block=3; t_ddl=4; lt=3000; lt_flag=
	fi
	db_up "$USERS"

	cat >"$d/select.sql" <<'EOF'
\set n random(1, :users)
SELECT id, email FROM users WHERE username = 'user' || :n;
EOF
	cat >"$d/update.sql" <<'EOF'
\set n random(1, :users)
UPDATE users SET updated_at = now() WHERE username = 'user' || :n;
EOF
	# (a): what seed 001's runbook runs, as plain SQL
	cat >"$d/a.sql" <<'EOF'
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login_at TIMESTAMP WITH TIME ZONE;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_last_login_at ON users (last_login_at DESC NULLS LAST);
EOF
	# (b): one ALTER that must wait for the open transaction
	cat >"$d/b.sql" <<'EOF'
ALTER TABLE users ADD COLUMN IF NOT EXISTS bench_flag boolean;
EOF
	{
		printf '# Add a column while a transaction is open\n\n## Step 1: Add the column\n\n```sql\n'
		cat "$d/b.sql"
		printf '```\n\n## Rollback Procedure\n\n```sql\nALTER TABLE users DROP COLUMN IF EXISTS bench_flag;\n```\n'
	} >"$d/b.md"
	local reset="DROP INDEX IF EXISTS idx_users_last_login_at; ALTER TABLE users DROP COLUMN IF EXISTS last_login_at; ALTER TABLE users DROP COLUMN IF EXISTS bench_flag;"

	local s
	for s in a_runbook a_psql b_runbook b_psql; do
		note "case 4 scenario $s (pgbench ${T}s, $clients clients)"
		psql -X -q -d "$DB_URL" -c "$reset" >/dev/null 2>&1
		mkdir -p "$d/$s"
		rm -f "$SHM/c4.jsonl"
		local t0
		t0=$(date +%s.%N)
		pgbench -n -c "$clients" -j 2 -T "$T" -l --log-prefix="$d/$s/pgb" -D users="$USERS" \
			-f "$d/select.sql" -f "$d/update.sql" "$DB_URL" >"$d/$s/pgbench.out" 2>&1 &
		local pgb=$! blocker= ddl_rc=0 ddl_t0 ddl_t1
		case $s in
		b_*)
			sleep "$t_block"
			psql -X -q -d "$DB_URL" -c "BEGIN" -c "SELECT id FROM users LIMIT 1" \
				-c "SELECT pg_sleep($hold)" -c "COMMIT" >/dev/null 2>&1 &
			blocker=$!
			sleep "$(calc "$t_ddl - $t_block")"
			;;
		*) sleep "$t_ddl" ;;
		esac
		ddl_t0=$(date +%s.%N)
		case $s in
		a_runbook)
			( cd "$d/$s" && "$RUNBOOK" run --yes --no-preflight --quiet-output --db "$DB_URL" \
				--log "$SHM/c4.jsonl" "$top/runbooks/001-add-last-login-at.md" ) >"$d/$s/ddl.out" 2>&1 || ddl_rc=$?
			;;
		b_runbook)
			"$RUNBOOK" run --yes --no-preflight --db "$DB_URL" $lt_flag --log "$SHM/c4.jsonl" "$d/b.md" \
				>"$d/$s/ddl.out" 2>&1 || ddl_rc=$?
			;;
		a_psql) psql -X -q -v ON_ERROR_STOP=1 -d "$DB_URL" -f "$d/a.sql" >"$d/$s/ddl.out" 2>&1 || ddl_rc=$? ;;
		b_psql) psql -X -q -v ON_ERROR_STOP=1 -d "$DB_URL" -f "$d/b.sql" >"$d/$s/ddl.out" 2>&1 || ddl_rc=$? ;;
		esac
		ddl_t1=$(date +%s.%N)
		[ -n "$blocker" ] && wait "$blocker"
		wait "$pgb" || { cat "$d/$s/pgbench.out" >&2; return 1; }
		local st
		st=$(pgb_stats "$d/$s/pgb" "$t0")
		printf '%s\n' "$st" >"$d/$s/stats"
		printf '%s %s %s\n' "$ddl_rc" "$(calc "$ddl_t0 - $t0")" "$(calc "$ddl_t1 - $ddl_t0")" >"$d/$s/ddl"
		grep -q '^tps' "$d/$s/pgbench.out" || { cat "$d/$s/pgbench.out" >&2; return 1; }
	done
	psql -X -q -d "$DB_URL" -c "$reset" >/dev/null 2>&1

	md "## 4. The database must not wait"
	md ""
	md "pgbench on the sandbox PostgreSQL's \`users\` ($USERS rows): $clients clients, 2 threads, ${T} s, two"
	md "scripts (\`SELECT ... WHERE username = ...\` and \`UPDATE users SET updated_at = now() WHERE"
	md "username = ...\`), every transaction logged (\`-l\`). The DDL starts ${t_ddl} s in."
	md ""
	md "- **(a)** seed 001's runbook (\`runbooks/001-add-last-login-at.md\`: pg_dump backup, \`ALTER TABLE ... ADD COLUMN\`"
	md "  with its own \`SET lock_timeout = '3s'\`, \`CREATE INDEX CONCURRENTLY\`, verifications), run with"
	md "  \`--no-preflight\` (its \"no active transactions\" prerequisite is false by construction under"
	md "  pgbench), against its two DDL statements in one \`psql -f\`."
	md "- **(b)** ${t_block} s in, a session runs \`BEGIN; SELECT id FROM users LIMIT 1;\` and keeps the"
	md "  transaction open for ${hold} s; ${t_ddl} s in, \`ALTER TABLE users ADD COLUMN bench_flag boolean\` in a"
	md "  runbook \`\`\`sql block (lock_timeout ${lt} ms, retried with backoff) against the same statement"
	md "  in \`psql -f\` (no lock_timeout: it queues, and every pgbench transaction queues behind it)."
	md ""
	md "| scenario | transactions | p50 | p95 | p99 | max latency | DDL exit | DDL took |"
	md "|---|---:|---:|---:|---:|---:|---:|---:|"
	local -A label=([a_runbook]="(a) runbook run 001" [a_psql]="(a) psql -f" [b_runbook]="(b) runbook run, sql block" [b_psql]="(b) psql -f")
	for s in a_runbook a_psql b_runbook b_psql; do
		local n p50 p95 p99 mx rc took
		read -r n p50 p95 p99 mx <"$d/$s/stats"
		read -r rc _ took <"$d/$s/ddl"
		md "| ${label[$s]} | $n | $p50 ms | $p95 ms | $p99 ms | $mx ms | $rc | $(ms "$took") |"
	done
	md ""
	md "Longest transaction latency (ms) per second of the run, by the second it ended in:"
	md ""
	md '```'
	for s in a_runbook a_psql b_runbook b_psql; do
		md "$(printf '%-28s %s' "${label[$s]}" "$(sed -n 2p "$d/$s/stats")")"
	done
	md '```'
	local mb_rb mb_psql ma_rb ma_psql
	mb_rb=$(awk 'NR == 1 { print $5 }' "$d/b_runbook/stats")
	mb_psql=$(awk 'NR == 1 { print $5 }' "$d/b_psql/stats")
	ma_rb=$(awk 'NR == 1 { print $5 }' "$d/a_runbook/stats")
	ma_psql=$(awk 'NR == 1 { print $5 }' "$d/a_psql/stats")
	md ""
	md "With the guard rails the longest pgbench wait is $mb_rb ms (target ≤ lock_timeout + 100 ms = $((lt + 100)) ms);"
	md "behind \`psql -f\`'s queued ALTER it is $mb_psql ms."
	row 4 "(b) longest pgbench wait, runbook" "$mb_rb ms (psql -f: $mb_psql ms)" "≤ $((lt + 100)) ms" "$(verdict "$mb_rb" "<=" $((lt + 100)))"
	row 4 "(a) longest pgbench wait during 001" "$ma_rb ms (psql -f: $ma_psql ms)" "reported" "-"
}
