# Case 6: parsing.  `runbook check` on a generated 10 MB runbook of 2,000
# steps: time and peak RSS.

case_6() {
	local d=$W/c6 steps
	mkdir -p "$d"
	if [ -n "$SMOKE" ]; then steps=20; else steps=2000; fi
	# each step: why, a 33-line command block, a 20-line expected output
	# (a psql table with values of every kind), a verification with its
	# expected output, and a 5-row failure table: about 5 KB
	awk -v n="$steps" 'BEGIN {
		printf "# Generated runbook: %d steps\n\n**Date:** 2026-01-01\n**Estimated Time:** %d minutes\n\n", n, n
		printf "## Prerequisites\n\n- [ ] PostgreSQL 14+ is installed and running\n- [ ] A backup exists\n\n"
		printf "### Environment Setup\n\n```bash\nexport DATABASE_URL=\"${DATABASE_URL:-postgresql://localhost/app}\"\n```\n\n"
		for (i = 1; i <= n; i++) {
			printf "## Step %d: Change table t%d\n\n### Why This Step\n\n", i, i
			printf "Step %d moves the data of table t%d to its new layout. It runs in batches so that no lock is held for long, and each batch is checked before the next one starts; the numbers below are what the rehearsal printed.\n\n", i, i
			printf "### Commands\n\n```bash\n"
			for (k = 1; k <= 33; k++)
				printf "echo \"batch %d of step %d: moved $(( %d * %d )) rows into t%d_new\" # %s\n", k, i, k, i, i, "padding padding padding"
			printf "```\n\n### Expected Output\n\n```\n"
			printf " id | name | created_at | size | checksum\n----+------+------------+------+----------\n"
			for (k = 1; k <= 16; k++)
				printf " %d | row-%d-%d | 2026-01-%02d 12:%02d:00+00 | %d kB | %07x\n", k, i, k, (k % 28) + 1, k % 60, k * 8, i * 4096 + k
			printf "(16 rows)\n```\n\n### Verification\n\n```bash\necho \"t%d ok\"\n```\n\nExpected:\n```\nt%d ok\n```\n\n", i, i
			printf "### If This Fails\n\n| Error | Cause | Solution |\n|-------|-------|----------|\n"
			printf "| `lock timeout` | A long transaction holds t%d | Retry later: `psql -c \"SELECT 1\"` |\n", i
			printf "| `duplicate key value` | Step %d ran twice | Safe to proceed |\n", i
			printf "| `permission denied for table t%d` | Wrong role | Connect as the owner |\n", i
			printf "| `disk full` | No space left | Free space, then retry |\n"
			printf "| `connection refused` | Server down | `sudo systemctl start postgresql` |\n\n"
		}
		printf "## Rollback Procedure\n\n```bash\necho rollback\n```\n"
	}' >"$d/big.md"
	local bytes
	bytes=$(wc -c <"$d/big.md")
	"$RUNBOOK" check "$d/big.md" >"$d/check.out" 2>&1 || { cat "$d/check.out" | head -20 >&2; return 1; }
	measure c6_check -- "$RUNBOOK" check "$d/big.md"
	measure c6_show -- "$RUNBOOK" show --json "$d/big.md"
	measure c6_cat -- cat "$d/big.md"
	local rss rss_show
	rss=$(rss_kib "$RUNBOOK" check "$d/big.md")
	rss_show=$(rss_kib "$RUNBOOK" show --json "$d/big.md")
	md "## 6. Parsing"
	md ""
	md "A generated runbook of $steps steps, $((bytes / 1024)) KiB ($(wc -l <"$d/big.md") lines): each step has a"
	md "why paragraph, a 33-line bash block, a 20-line expected output (a psql table with"
	md "numbers, dates, sizes and hex ids), a verification with its expected output and a"
	md "5-row failure table. \`runbook check\` parses it (cmark-gfm), builds the model, lints"
	md "it (structure and SQL safety) and compiles every expected output; \`runbook show --json\`"
	md "parses and prints the whole model."
	md ""
	md "| | median | MB/s | peak RSS |"
	md "|---|---:|---:|---:|"
	md "| runbook check | $(ms "$(med c6_check)") | $(ratio "$(calc "$bytes / 1048576")" "$(med c6_check)") | $((rss / 1024)) MiB |"
	md "| runbook show --json | $(ms "$(med c6_show)") | $(ratio "$(calc "$bytes / 1048576")" "$(med c6_show)") | $((rss_show / 1024)) MiB |"
	md "| cat (reading the file) | $(ms "$(med c6_cat)") | | |"
	md ""
	md "\`runbook check\` says: \`$(tail -1 "$d/check.out")\`"
	row 6 "runbook check, $((bytes / 1048576)) MiB / $steps steps" "$(ms "$(med c6_check)"), peak RSS $((rss / 1024)) MiB" "reported" "-"
}
