# bench/lib.sh - helpers for bench/run (sourced).
#
#   have CMD                 the command is installed
#   measure ID [--runs N] [--warmup N] [--prepare CMD] -- CMD...
#                            times CMD (hyperfine when installed, else a few
#                            plain runs) into $M/ID.json, hyperfine's shape
#   med ID | cpu ID          median wall seconds | mean user+system seconds
#   rss_kib CMD...           runs CMD under maxrss, prints its peak RSS (KiB)
#   row CASE METRIC VALUE [TARGET VERDICT]   a line of the summary table
#   note TEXT                a line on stderr (progress)
#   calc EXPR                awk arithmetic, printed with 6 significant digits
#   ms S | msf S             seconds -> milliseconds text

have() { command -v "$1" >/dev/null 2>&1; }

note() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

calc() { awk "BEGIN { v = ($*); printf \"%.6g\n\", v }"; }

# ratio A B -> A / B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "null" || b == "null") print "n/a"; else printf "%.2f\n", a / b }'; }

# ms 0.0123 -> 12.3 ms ; adapts the unit
ms() {
	awk -v s="$1" 'BEGIN {
		if (s == "" || s == "null") { print "n/a"; exit }
		v = s * 1000
		if (v < 0) { a = -v } else { a = v }
		if (a >= 10000) printf "%.1f s\n", v / 1000
		else if (a >= 100) printf "%.0f ms\n", v
		else if (a >= 1) printf "%.2f ms\n", v
		else if (a >= 0.01) printf "%.3f ms\n", v
		else printf "%.4f ms\n", v }'
}

# the JSON of one measurement, hyperfine's shape (for the fallback)
_fallback_json() {
	local cmd=$1; shift
	printf '%s\n' "$@" | jq -s --arg cmd "$cmd" '
		sort as $t | ($t | length) as $n |
		{ tool: "plain", results: [ {
			command: $cmd, times: $t,
			mean: (($t | add) / $n), min: $t[0], max: $t[$n - 1],
			median: (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end),
			user: null, system: null } ] }'
}

measure() {
	local id=$1 runs=${BENCH_RUNS:-} warmup=1 prepare= cmd
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--runs) runs=$2; shift 2 ;;
		--warmup) warmup=$2; shift 2 ;;
		--prepare) prepare=$2; shift 2 ;;
		--) shift; break ;;
		*) echo "measure: bad option $1" >&2; return 2 ;;
		esac
	done
	cmd=$(printf '%q ' "$@")
	cmd=${cmd% }
	[ -n "$SMOKE" ] && { runs=1; warmup=0; }
	note "measure $id: $cmd"
	if [ -z "$SMOKE" ] && have hyperfine; then
		local args=(-N --style basic --export-json "$M/$id.json" --warmup "$warmup")
		if [ -n "$runs" ]; then args+=(--runs "$runs"); else args+=(--min-runs 5 --max-runs 30); fi
		[ -n "$prepare" ] && args+=(--prepare "$prepare")
		hyperfine "${args[@]}" "$cmd" >"$M/$id.log" 2>&1 || {
			cat "$M/$id.log" >&2
			echo "measure $id: the command failed" >&2
			return 1
		}
	else
		local i t0 t1 times=()
		for ((i = 0; i < ${runs:-3}; i++)); do
			[ -n "$prepare" ] && bash -c "$prepare" >/dev/null 2>&1
			t0=$(date +%s%N)
			if ! "$@" >/dev/null 2>"$M/$id.err"; then
				cat "$M/$id.err" >&2
				echo "measure $id: the command failed" >&2
				return 1
			fi
			t1=$(date +%s%N)
			times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.9f", (b - a) / 1e9 }')")
		done
		_fallback_json "$cmd" "${times[@]}" >"$M/$id.json"
	fi
}

med() { jq -r '.results[0].median' "$M/$1.json"; }
cpu() { jq -r '.results[0] | if .user == null then "null" else (.user + .system) end' "$M/$1.json"; }
nruns() { jq -r '.results[0].times | length' "$M/$1.json"; }

rss_kib() {
	"$MAXRSS" "$@" >/dev/null 2>"$W/rss.err" || { cat "$W/rss.err" >&2; return 1; }
	awk '/^maxrss_kib/ { print $2 }' "$W/rss.err"
}

# row CASE METRIC VALUE [TARGET VERDICT]: one line of the summary table
row() {
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$OUT_DIR/summary.tsv"
}

# verdict GOT OP WANT -> "met" / "missed" (numbers; OP is <= or >=)
verdict() {
	awk -v g="$1" -v op="$2" -v w="$3" 'BEGIN {
		if (g == "" || g == "null" || g == "n/a") { print "n/a"; exit }
		ok = (op == "<=") ? (g + 0 <= w + 0) : (g + 0 >= w + 0)
		print ok ? "met" : "missed" }'
}

# md TEXT... appends a line to the current case's Markdown
md() { printf '%s\n' "$*" >>"$CASE_MD"; }

# db_up ROWS: the built-in throwaway PostgreSQL (runbook run --sandbox
# --keep), its users table (runbooks/seeds/users.sql) with ROWS rows;
# started once per bench run, stopped at the end.  Sets DB_URL.
db_up() {
	local rows=$1
	if [ -f "$W/db.url" ]; then
		DB_URL=$(cat "$W/db.url")
		return 0
	fi
	note "starting the sandbox PostgreSQL with $rows users"
	sed "s/generate_series(1, 100000)/generate_series(1, $rows)/" runbooks/seeds/users.sql >"$W/users.sql"
	grep -q "generate_series(1, $rows)" "$W/users.sql" || { echo "db_up: cannot size runbooks/seeds/users.sql" >&2; return 1; }
	cat >"$W/sandbox.md" <<'MD'
# Start the bench database

## Step 1: Nothing to do

```bash
true
```

## Rollback Procedure

```bash
true
```
MD
	"$RUNBOOK" run --yes --sandbox="$W/users.sql" --keep --log "$W/sandbox.jsonl" "$W/sandbox.md" >"$W/sandbox.out" 2>&1 || {
		cat "$W/sandbox.out" >&2
		return 1
	}
	sed -n 's/^  stop: *//p' "$W/sandbox.out" >"$W/sandbox.stop"
	DB_URL=$(sed -n "s/^  connect: psql '\(.*\)'$/\1/p" "$W/sandbox.out")
	[ -n "$DB_URL" ] && [ -s "$W/sandbox.stop" ] || { cat "$W/sandbox.out" >&2; return 1; }
	printf '%s\n' "$DB_URL" >"$W/db.url"
	note "sandbox $(sed -n 's/^sandbox: PostgreSQL left running in \([^ ]*\) .*/\1/p' "$W/sandbox.out")"
	psql -X -q -At -d "$DB_URL" -c "SELECT version()" >"$W/pg_version"
}

# gen_steps N DIR: the same N trivial steps (`echo step I`, expected `step
# I`) as a runbook (stepsN.md), a cram test (.t), a shelltest file (.test),
# a bats file (.bats), one bash script (oneN.sh) and one `bash -c` per step
# (bashcN.sh)
gen_steps() {
	local n=$1 d=$2
	awk -v n="$n" 'BEGIN {
		printf "# %d trivial steps\n\n", n
		for (i = 1; i <= n; i++)
			printf "## Step %d: Echo %d\n\n```bash\necho step %d\n```\n\n### Expected Output\n\n```\nstep %d\n```\n\n", i, i, i, i
		printf "## Rollback Procedure\n\n```bash\necho undo\n```\n"
	}' >"$d/steps$n.md"
	awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "Step %d:\n\n  $ echo step %d\n  step %d\n\n", i, i, i }' >"$d/steps$n.t"
	awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "# step %d\necho step %d\n>>>\nstep %d\n>>>= 0\n\n", i, i, i }' >"$d/steps$n.test"
	awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "@test \"step %d\" {\n  run echo step %d\n  [ \"$output\" = \"step %d\" ]\n}\n\n", i, i, i }' >"$d/steps$n.bats"
	awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "echo step %d\n", i }' >"$d/one$n.sh"
	awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "bash -c '\''echo step %d'\''\n", i }' >"$d/bashc$n.sh"
}

