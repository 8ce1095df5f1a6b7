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
	printf '%s\n' "$@" | sort -g | awk -v cmd="$cmd" '
		{ t[NR] = $1; s += $1 }
		END {
			m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
			gsub(/\\/, "\\\\", cmd); gsub(/"/, "\\\"", cmd)
			printf "{\"results\":[{\"command\":\"%s\",\"mean\":%.9f,\"median\":%.9f,\"min\":%.9f,\"max\":%.9f,\"user\":null,\"system\":null,\"times\":[", cmd, s / NR, m, t[1], t[NR]
			for (i = 1; i <= NR; i++) printf "%s%.9f", (i > 1 ? "," : ""), t[i]
			printf "]}],\"tool\":\"plain\"}\n"
		}'
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
