# Case 1: per-step overhead.  Runbooks of N trivial steps (`echo step N`
# with expected output `step N`) through `runbook run --yes`, journal on a
# tmpfs and on disk, against cram, shelltest and bats on the same steps and
# two floors: every command in one bash script, and one `bash -c` per step.

case_1() {
	local d=$W/c1 sizes lo hi n tool
	mkdir -p "$d" "$d/disk"
	if [ -n "$SMOKE" ]; then sizes="2 5"; else sizes="10 100 1000"; fi
	lo=${sizes%% *}
	hi=${sizes##* }
	for n in $sizes; do gen_steps "$n" "$d"; done

	# the floor of runbook's design: one round trip per block to a
	# long-lived bash, nothing else (bench/tools/roundtrip.c)
	cc -O2 -o "$d/roundtrip" bench/tools/roundtrip.c
	mkdir -p "$d/rt"
	local tools="runbook_tmpfs runbook_disk one_shell roundtrip bash_c cram shelltest bats"
	local -A label=(
		[runbook_tmpfs]="runbook run --yes, journal on tmpfs"
		[runbook_disk]="runbook run --yes, journal on disk"
		[one_shell]="floor: one bash script"
		[roundtrip]="floor: one round trip per step to one bash (tools/roundtrip.c)"
		[bash_c]="floor: one bash -c per step"
		[cram]="cram"
		[shelltest]="shelltest"
		[bats]="bats"
	)
	local -A missing=()
	# Debian's python3-cram installs it as cram3
	local cram
	cram=$(command -v cram || command -v cram3) || missing[cram]=1
	have shelltest || missing[shelltest]=1
	have bats || missing[bats]=1

	for n in $sizes; do
		local slow_runs=
		[ "$n" -ge 1000 ] && slow_runs=3
		measure "c1_runbook_tmpfs_$n" --prepare "rm -f $SHM/c1.jsonl" -- \
			"$RUNBOOK" run --yes --no-color --log "$SHM/c1.jsonl" "$d/steps$n.md"
		measure "c1_runbook_disk_$n" --prepare "rm -f $d/disk/c1.jsonl" ${slow_runs:+--runs 5} -- \
			"$RUNBOOK" run --yes --no-color --log "$d/disk/c1.jsonl" "$d/steps$n.md"
		measure "c1_one_shell_$n" -- bash "$d/one$n.sh"
		measure "c1_roundtrip_$n" -- "$d/roundtrip" "$n" "$d/rt"
		measure "c1_bash_c_$n" ${slow_runs:+--runs 5} -- bash "$d/bashc$n.sh"
		[ -z "${missing[cram]:-}" ] && measure "c1_cram_$n" -- "$cram" -q --shell=/bin/bash "$d/steps$n.t"
		[ -z "${missing[shelltest]:-}" ] && measure "c1_shelltest_$n" ${slow_runs:+--runs 5} -- shelltest "$d/steps$n.test"
		[ -z "${missing[bats]:-}" ] && measure "c1_bats_$n" ${slow_runs:+--runs 3 --warmup 0} -- bats "$d/steps$n.bats"
	done

	# fdatasync: the raw cost of one small synchronous write on the journal's
	# disk, and how many the executor makes
	local writes=200
	[ -n "$SMOKE" ] && writes=5
	measure c1_dsync --runs 5 -- dd if=/dev/zero of="$d/disk/dsync.dat" bs=256 count=$writes oflag=dsync status=none
	local dsync_ms
	dsync_ms=$(calc "$(med c1_dsync) / $writes * 1000")
	local syncs=n/a blocks=
	if have strace; then
		rm -f "$d/disk/c1s.jsonl"
		strace -f -c -e trace=fdatasync -o "$d/strace.txt" \
			"$RUNBOOK" run --yes --no-color --log "$d/disk/c1s.jsonl" "$d/steps$hi.md" >/dev/null 2>&1
		syncs=$(awk '$NF == "fdatasync" { print $(NF - 1) }' "$d/strace.txt")
		blocks=$(grep -c '"type":"block.start"' "$d/disk/c1s.jsonl")
	fi

	# per-step cost = slope between the smallest and largest runbook
	local -A wall=() cpus=() over=()
	md "## 1. Per-step overhead"
	md ""
	md "Runbooks of $(echo "$sizes" | sed 's/ /, /g') trivial steps (\`echo step N\`, expected \`step N\`)."
	md "Per-step cost is the slope (median at $hi steps − median at $lo steps) / $((hi - lo));"
	md "the executor's *own* overhead is that slope minus the one-script floor's."
	md "CPU is user + system of the whole process tree (hyperfine's means), robust to other load."
	md ""
	local head="| tool |" rule="|---|"
	for n in $sizes; do head="$head $n steps |"; rule="$rule---:|"; done
	md "$head per step (wall) | own overhead (wall) | per step (CPU) |"
	md "$rule---:|---:|---:|"
	for tool in $tools; do
		if [ -n "${missing[$tool]:-}" ]; then
			md "| ${label[$tool]} | not installed |"
			row 1 "$tool" "skipped: not installed"
			continue
		fi
		local line="| ${label[$tool]} |"
		for n in $sizes; do line="$line $(ms "$(med "c1_${tool}_$n")") |"; done
		wall[$tool]=$(calc "($(med "c1_${tool}_$hi") - $(med "c1_${tool}_$lo")) / ($hi - $lo)")
		local ch cl
		ch=$(cpu "c1_${tool}_$hi")
		cl=$(cpu "c1_${tool}_$lo")
		if [ "$ch" != null ]; then cpus[$tool]=$(calc "($ch - $cl) / ($hi - $lo)"); else cpus[$tool]=null; fi
		md "$line $(ms "${wall[$tool]}") | @OVER_$tool@ | $(ms "${cpus[$tool]}") |"
	done
	for tool in $tools; do
		[ -n "${wall[$tool]:-}" ] || continue
		over[$tool]=$(calc "${wall[$tool]} - ${wall[one_shell]}")
		sed -i "s|@OVER_$tool@|$(ms "${over[$tool]}")|" "$CASE_MD"
	done
	md ""

	local target=n/a v=n/a
	if [ -n "${over[cram]:-}" ]; then
		target=${over[cram]}
		v=$(verdict "${over[runbook_tmpfs]}" "<=" "$target")
		md "**Target: own overhead per step ≤ cram's** (journal on tmpfs): runbook $(ms "${over[runbook_tmpfs]}") against cram $(ms "$target") — **$v** (ratio $(ratio "${over[runbook_tmpfs]}" "$target")x)."
	else
		md "**Target: own overhead per step ≤ cram's**: cram is not installed, so not judged (runbook $(ms "${over[runbook_tmpfs]}"))."
	fi
	row 1 "own overhead per step, journal on tmpfs" "$(ms "${over[runbook_tmpfs]}")" "≤ cram ($(ms "${over[cram]:-}"))" "$v"
	md ""
	md "Of runbook's $(ms "${over[runbook_tmpfs]}"), $(ms "${over[roundtrip]}") is the round trip to its long-lived bash alone"
	md "(tools/roundtrip.c: write the block and control files, send \`. \"\$__rb_c\"\`, wait for the status"
	md "line), the floor of running each block in one shell that keeps its state; the journal"
	md "(four hashed lines per step), matching and the terminal output add $(ms "$(calc "${over[runbook_tmpfs]} - ${over[roundtrip]}")")."
	row 1 "round trip to one bash per step (design floor)" "$(ms "${over[roundtrip]}")" "reported" "-"
	local disk_extra
	disk_extra=$(calc "${wall[runbook_disk]} - ${wall[runbook_tmpfs]}")
	md ""
	md "Journal on disk: $(ms "$disk_extra") more per step than on tmpfs; one 256-byte \`write\` + \`fdatasync\` (dd oflag=dsync) costs $(ms "$(calc "$dsync_ms / 1000")") on the same disk."
	if [ "$syncs" != n/a ]; then
		md "strace: $syncs fdatasync calls for $blocks blocks ($hi steps: one right after each block.start, one at the end)."
		local per_block
		per_block=$(calc "$syncs / $blocks")
		row 1 "fdatasync per block (journal on disk)" "$syncs for $blocks blocks; $(ms "$disk_extra") per step" "≤ 1 per block (+1 at close)" "$(verdict "$syncs" "<=" "$((blocks + 1))")"
	else
		row 1 "fdatasync per block (journal on disk)" "$(ms "$disk_extra") per step (strace not installed: count not checked)" "≤ 1 per block" "n/a"
	fi
	row 1 "fdatasync cost (256 B write + fdatasync)" "$(ms "$(calc "$dsync_ms / 1000")")" "reported" "-"
}
