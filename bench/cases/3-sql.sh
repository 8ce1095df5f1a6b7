# Case 3: SQL through libpq.  10,000 short statements in one ```sql block,
# against `psql -c` per statement and against one `psql -f` of the same file.

case_3() {
	local d=$W/c3 n nc
	mkdir -p "$d"
	if [ -n "$SMOKE" ]; then n=20; nc=5; else n=10000; nc=300; fi
	db_up "$USERS"
	psql -X -q -d "$DB_URL" -c "DROP TABLE IF EXISTS bench_sql; CREATE TABLE bench_sql (n int, at timestamptz DEFAULT now())"

	awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "INSERT INTO bench_sql (n) VALUES (%d);\n", i }' >"$d/stmts.sql"
	{
		printf '# %d statements\n\n## Step 1: Insert\n\n```sql\n' "$n"
		cat "$d/stmts.sql"
		printf '```\n\n## Rollback Procedure\n\n```sql\nTRUNCATE bench_sql;\n```\n'
	} >"$d/sql.md"
	# psql -c per statement: the first $nc statements, one psql each
	head -n "$nc" "$d/stmts.sql" | awk -v url="$DB_URL" '{ printf "psql -X -q -d '\''%s'\'' -c '\''%s'\''\n", url, $0 }' >"$d/psql_c.sh"

	measure c3_runbook --prepare "rm -f $SHM/c3.jsonl" -- \
		"$RUNBOOK" run --yes --quiet-output --db "$DB_URL" --log "$SHM/c3.jsonl" "$d/sql.md"
	measure c3_psql_f -- psql -X -q -v ON_ERROR_STOP=1 -d "$DB_URL" -f "$d/stmts.sql"
	measure c3_psql_c --runs 3 --warmup 0 -- bash "$d/psql_c.sh"
	rm -f "$SHM/c3.jsonl"

	local per_rb per_f per_c vs_c vs_f
	per_rb=$(calc "$(med c3_runbook) / $n")
	per_f=$(calc "$(med c3_psql_f) / $n")
	per_c=$(calc "$(med c3_psql_c) / $nc")
	vs_c=$(ratio "$per_c" "$per_rb")
	vs_f=$(ratio "$(med c3_runbook)" "$(med c3_psql_f)")
	md "## 3. SQL through libpq"
	md ""
	md "$n statements (\`INSERT INTO bench_sql (n) VALUES (i);\`) in one \`\`\`sql block, run by"
	md "\`runbook run --yes --quiet-output --db\` on the sandbox PostgreSQL (Unix socket); the same"
	md "file through one \`psql -X -q -f\`; and \`psql -X -q -c\` once per statement ($nc of them, timed"
	md "and divided: a new connection each). runbook's time includes its start, preflight, run"
	md "lock and journal."
	md ""
	md "| | median | statements | per statement | CPU |"
	md "|---|---:|---:|---:|---:|"
	md "| runbook run, one sql block | $(ms "$(med c3_runbook)") | $n | $(ms "$per_rb") | $(ms "$(cpu c3_runbook)") |"
	md "| psql -f | $(ms "$(med c3_psql_f)") | $n | $(ms "$per_f") | $(ms "$(cpu c3_psql_f)") |"
	md "| psql -c per statement | $(ms "$(med c3_psql_c)") | $nc | $(ms "$per_c") | $(ms "$(cpu c3_psql_c)") |"
	md ""
	md "runbook is ${vs_c}x faster per statement than \`psql -c\` per statement, and takes ${vs_f}x the time of \`psql -f\`."
	row 3 "$n statements vs psql -c per statement" "${vs_c}x faster" "≥ 10x" "$(verdict "$vs_c" ">=" 10)"
	row 3 "$n statements vs one psql -f" "${vs_f}x psql -f" "≤ 1.2x" "$(verdict "$vs_f" "<=" 1.2)"
}
