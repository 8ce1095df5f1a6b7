# Case 2: output capture and matching.  One block printing 1 GiB against
# `cat >/dev/null` of the same stream, with the executor's peak RSS; then
# tolerant matching of a 1,000,000-line expected output.

case_2() {
	local d=$W/c2 bytes lines
	mkdir -p "$d"
	if [ -n "$SMOKE" ]; then bytes=1048576; lines=1000; else bytes=1073741824; lines=1000000; fi
	# 64-byte lines; `yes` dies of SIGPIPE when head has enough, which is not
	# the block's failure
	local stream="{ yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx || :; } | head -c $bytes"
	cat >"$d/print.md" <<EOF
# Print $bytes bytes

## Step 1: Print

\`\`\`bash
$stream
\`\`\`

## Rollback Procedure

\`\`\`bash
true
\`\`\`
EOF
	printf '%s | cat >/dev/null\n' "$stream" >"$d/floor.sh"
	# what echoing does to every line, done by sed: a reference, not the floor
	printf '%s | sed "s/^/  │ /" >/dev/null\n' "$stream" >"$d/sed.sh"

	measure c2_floor --runs 5 -- bash "$d/floor.sh"
	measure c2_quiet --runs 5 --prepare "rm -f $SHM/c2.jsonl" -- \
		"$RUNBOOK" run --yes --quiet-output --log "$SHM/c2.jsonl" "$d/print.md"
	measure c2_echo --runs 5 --prepare "rm -f $SHM/c2.jsonl" -- \
		"$RUNBOOK" run --yes --log "$SHM/c2.jsonl" "$d/print.md"
	measure c2_sed --runs 3 -- bash "$d/sed.sh"
	rm -f "$SHM/c2.jsonl"
	local rss_quiet rss_echo
	rss_quiet=$(rss_kib "$RUNBOOK" run --yes --quiet-output --log "$SHM/c2.jsonl" "$d/print.md")
	rm -f "$SHM/c2.jsonl"
	rss_echo=$(rss_kib "$RUNBOOK" run --yes --log "$SHM/c2.jsonl" "$d/print.md")
	rm -f "$SHM/c2.jsonl"

	local rq re
	rq=$(ratio "$(med c2_quiet)" "$(med c2_floor)")
	re=$(ratio "$(med c2_echo)" "$(med c2_floor)")
	local mib=$((bytes / 1048576))
	md "## 2. Output capture and matching"
	md ""
	md "One bash block printing $mib MiB in 64-byte lines (\`$stream\`); the floor"
	md "is the same pipeline into \`cat >/dev/null\`. The executor reads both pipes, hashes"
	md "every byte (SHA-256), keeps the first 8 MiB per stream in memory and writes the rest"
	md "to a 0600 spill file in its work directory (up to 1 GiB, removed at the end)."
	md "Peak RSS: the largest of runbook and the processes it waited for (tests/tools/maxrss)."
	md "The target (1.5x) is for the capture, \`--quiet-output\`; echoing writes every line"
	md "again, marked and masked, so it is set beside a \`sed\` doing the marking alone."
	md ""
	md "| | median | CPU (user+sys) | vs floor | peak RSS |"
	md "|---|---:|---:|---:|---:|"
	md "| floor: \`... \\| cat >/dev/null\` | $(ms "$(med c2_floor)") | $(ms "$(cpu c2_floor)") | 1.00 | |"
	md "| runbook run --yes --quiet-output | $(ms "$(med c2_quiet)") | $(ms "$(cpu c2_quiet)") | ${rq}x | $((rss_quiet / 1024)) MiB |"
	md "| runbook run --yes (output echoed, stdout /dev/null) | $(ms "$(med c2_echo)") | $(ms "$(cpu c2_echo)") | ${re}x | $((rss_echo / 1024)) MiB |"
	md "| reference: \`... \| sed 's/^/  │ /' >/dev/null\` (marking every line, as the echo does) | $(ms "$(med c2_sed)") | $(ms "$(cpu c2_sed)") | $(ratio "$(med c2_sed)" "$(med c2_floor)")x | |"
	md ""
	row 2 "$mib MiB through one block, --quiet-output" "${rq}x the floor" "≤ 1.5x" "$(verdict "$rq" "<=" 1.5)"
	row 2 "$mib MiB through one block, echoed to the terminal" "${re}x the floor (sed marking each line: $(ratio "$(med c2_sed)" "$(med c2_floor)")x)" "reported" "-"
	row 2 "peak RSS, $mib MiB of output" "$((rss_quiet / 1024)) MiB quiet, $((rss_echo / 1024)) MiB echoed" "< 64 MiB" \
		"$(verdict "$(( rss_quiet > rss_echo ? rss_quiet : rss_echo ))" "<=" 65535)"

	# tolerant matching: seq's lines against the same lines as the expected
	# output (numbers are values of their kind in tolerant mode)
	{
		printf '# Match %d lines\n\n## Step 1: Print them\n\n```bash\nseq 1 %d\n```\n\n### Expected Output\n\n```\n' "$lines" "$lines"
		seq 1 "$lines"
		printf '```\n\n## Rollback Procedure\n\n```bash\ntrue\n```\n'
	} >"$d/match.md"
	{
		printf '# Print %d lines\n\n## Step 1: Print them\n\n```bash\nseq 1 %d\n```\n\n' "$lines" "$lines"
		printf '## Rollback Procedure\n\n```bash\ntrue\n```\n'
	} >"$d/nomatch.md"
	measure c2_match --runs 5 --prepare "rm -f $SHM/c2m.jsonl" -- \
		"$RUNBOOK" run --yes --quiet-output --log "$SHM/c2m.jsonl" "$d/match.md"
	measure c2_nomatch --runs 5 --prepare "rm -f $SHM/c2m.jsonl" -- \
		"$RUNBOOK" run --yes --quiet-output --log "$SHM/c2m.jsonl" "$d/nomatch.md"
	rm -f "$SHM/c2m.jsonl"
	local rss_match rss_nomatch
	rss_match=$(rss_kib "$RUNBOOK" run --yes --quiet-output --log "$SHM/c2m.jsonl" "$d/match.md")
	rm -f "$SHM/c2m.jsonl"
	rss_nomatch=$(rss_kib "$RUNBOOK" run --yes --quiet-output --log "$SHM/c2m.jsonl" "$d/nomatch.md")
	rm -f "$SHM/c2m.jsonl"
	local extra
	extra=$(calc "$(med c2_match) - $(med c2_nomatch)")
	md "Tolerant matching of $lines lines (\`seq 1 $lines\` against the same $lines lines as the"
	md "step's Expected Output, $(du -k "$d/match.md" | cut -f1) KiB runbook). The run includes loading the runbook and compiling"
	md "its expectation; \"without\" is the same block with no Expected Output."
	md ""
	md "| | median | CPU | peak RSS |"
	md "|---|---:|---:|---:|"
	md "| with the expected output | $(ms "$(med c2_match)") | $(ms "$(cpu c2_match)") | $((rss_match / 1024)) MiB |"
	md "| without | $(ms "$(med c2_nomatch)") | $(ms "$(cpu c2_nomatch)") | $((rss_nomatch / 1024)) MiB |"
	md "| difference: parse, compile and match $lines lines | $(ms "$extra") | | |"
	row 2 "tolerant match of $lines lines" "$(ms "$extra") (run $(ms "$(med c2_match)")), peak RSS $((rss_match / 1024)) MiB" "reported" "-"
}
