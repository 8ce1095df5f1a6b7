# Case 5: the journal.  Verifying a 100,000-line signed journal (`runbook
# verify`) against `sha256sum` of the same file; writing: what a line and
# its fdatasync cost.

case_5() {
	local d=$W/c5 steps wsteps
	mkdir -p "$d"
	if [ -n "$SMOKE" ]; then steps=20; wsteps=10; else steps=20000; wsteps=1000; fi
	"$RUNBOOK" keygen -f "$d/key" -C bench >/dev/null
	gen_steps "$steps" "$d"
	# the journals: one signed (a checkpoint after every step, and LOG.sig),
	# one unsigned, of the same run
	note "writing a signed journal of $steps steps"
	"$RUNBOOK" run --yes --quiet-output --sign "$d/key" --log "$d/signed.jsonl" "$d/steps$steps.md" >/dev/null
	"$RUNBOOK" run --yes --quiet-output --log "$d/unsigned.jsonl" "$d/steps$steps.md" >/dev/null
	local lines ulines bytes nsig
	lines=$(wc -l <"$d/signed.jsonl")
	ulines=$(wc -l <"$d/unsigned.jsonl")
	bytes=$(wc -c <"$d/signed.jsonl")
	nsig=$(grep -c '"type":"sig"' "$d/signed.jsonl")
	"$RUNBOOK" verify "$d/signed.jsonl" >"$d/verify.out" || { cat "$d/verify.out" >&2; return 1; }

	measure c5_verify -- "$RUNBOOK" verify "$d/signed.jsonl"
	measure c5_sha256sum -- sha256sum "$d/signed.jsonl"
	# the unsigned journal's verdict is UNSIGNED (exit 1): time it through sh
	measure c5_verify_unsigned -- sh -c '"$0" verify "$1" >/dev/null; [ $? -le 1 ]' "$RUNBOOK" "$d/unsigned.jsonl"
	measure c5_sha256sum_unsigned -- sha256sum "$d/unsigned.jsonl"

	local rate urate floor_rate
	rate=$(calc "$lines / $(med c5_verify)")
	urate=$(calc "$ulines / $(med c5_verify_unsigned)")
	floor_rate=$(calc "$lines / $(med c5_sha256sum)")

	# writing: the same runbook with the journal on disk and on tmpfs
	gen_steps "$wsteps" "$d"
	measure c5_write_disk --prepare "rm -f $d/w.jsonl" -- \
		"$RUNBOOK" run --yes --quiet-output --log "$d/w.jsonl" "$d/steps$wsteps.md"
	measure c5_write_tmpfs --prepare "rm -f $SHM/c5w.jsonl" -- \
		"$RUNBOOK" run --yes --quiet-output --log "$SHM/c5w.jsonl" "$d/steps$wsteps.md"
	local wlines per_line
	wlines=$(wc -l <"$d/w.jsonl")
	per_line=$(calc "($(med c5_write_disk) - $(med c5_write_tmpfs)) / $wlines")
	measure c5_dsync --runs 5 -- dd if=/dev/zero of="$d/dsync.dat" bs=256 count=100 oflag=dsync status=none
	local dsync
	dsync=$(calc "$(med c5_dsync) / 100")

	md "## 5. Journal"
	md ""
	md "A signed journal of a $steps-step run ($lines lines, $((bytes / 1048576)) MiB, $nsig checkpoint signatures plus"
	md "LOG.sig; verdict \`$(head -1 "$d/verify.out" | cut -c1-60)\`), checked by \`runbook verify\`:"
	md "every line parsed (JSON), its first keys, seq, ts, type and hash chain checked, every"
	md "checkpoint's Ed25519 SSHSIG verified over the SHA-512 of the bytes before it, LOG.sig"
	md "verified, and the audit summary built. The floor is \`sha256sum\` of the same file."
	md "The unsigned journal of the same run ($ulines lines) shows the cost without signatures."
	md ""
	md "| | median | lines/s |"
	md "|---|---:|---:|"
	md "| runbook verify, signed | $(ms "$(med c5_verify)") | $(printf '%.0f' "$rate") |"
	md "| runbook verify, unsigned (chain only) | $(ms "$(med c5_verify_unsigned)") | $(printf '%.0f' "$urate") |"
	md "| sha256sum (floor) | $(ms "$(med c5_sha256sum)") | $(printf '%.0f' "$floor_rate") |"
	md ""
	md "Writing: a $wsteps-step run writes $wlines lines; with the journal on disk it takes"
	md "$(ms "$per_line") more per line than on tmpfs (the executor syncs once per block, right"
	md "after block.start: $((wsteps + 1)) fdatasync calls for $wlines lines). One 256-byte"
	md "write + fdatasync (dd oflag=dsync) costs $(ms "$dsync") on this disk: that is the per-line"
	md "cost of syncing every line, as the journal did before."
	row 5 "verify a $lines-line signed journal" "$(printf '%.0f' "$rate") lines/s ($(printf '%.0f' "$urate") unsigned; sha256sum $(printf '%.0f' "$floor_rate"))" "≥ 200000 lines/s" "$(verdict "$rate" ">=" 200000)"
	row 5 "journal write, per line (disk - tmpfs)" "$(ms "$per_line") (fdatasync alone $(ms "$dsync"))" "reported" "-"
}
