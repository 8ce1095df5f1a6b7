#!/usr/bin/env bash
# fuzz_smoke.sh - every fuzz target still builds, replays its regression
# inputs and fuzzes for a few seconds (FUZZ_SMOKE_SECONDS, default 3)
# without a finding, so that the targets cannot rot.  docs/fuzzing.md.
. "$(dirname "$0")/../lib/tap.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
seconds=${FUZZ_SMOKE_SECONDS:-3}
targets=()
for f in tests/fuzz/fuzz_*.c; do
	t=${f#tests/fuzz/fuzz_}
	targets+=("${t%.c}")
done

# 1. The targets built by the ordinary compiler (gcc; ASan under `make
#    asan`) replay the regression inputs and the committed seeds.
for t in "${targets[@]}"; do
	replay=$BUILD_DIR/tests/fuzz/replay_$t
	inputs=()
	for d in tests/fuzz/regressions/$t tests/fuzz/corpus/$t; do
		[ -d "$d" ] && inputs+=("$d")
	done
	if [ ! -x "$replay" ]; then
		echo "ok $((_tap_n += 1)) - # SKIP replay_$t not built (make build-tests)"
	elif [ ${#inputs[@]} = 0 ]; then
		echo "ok $((_tap_n += 1)) - # SKIP replay_$t: no saved inputs"
	else
		"$replay" "${inputs[@]}" >"$TMP/replay.log" 2>&1
		rc=$?
		is "$rc" 0 "replay_$t replays its saved inputs ($(tail -1 "$TMP/replay.log"))"
		[ "$rc" = 0 ] || diag "$(tail -30 "$TMP/replay.log")"
	fi
done

# 2. libFuzzer: needs clang and its runtime (Debian: clang libclang-rt-dev,
#    installed by `make deps`).
libfuzzer() {
	printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
		'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
		>"$TMP/probe.c"
	"${FUZZ_CC:-clang}" -fsanitize=fuzzer,address,undefined -o "$TMP/probe" "$TMP/probe.c" \
		>"$TMP/probe.log" 2>&1
}
if ! libfuzzer; then
	for t in "${targets[@]}"; do
		echo "ok $((_tap_n += 1)) - # SKIP fuzz_$t: ${FUZZ_CC:-clang} cannot link libFuzzer: $(head -1 "$TMP/probe.log")"
	done
	done_testing
	exit
fi

# A make of our own: not the parent's MAKEFLAGS (CC=, O=, CFLAGS= given to
# `make check` are for the main build).
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j"$(nproc 2>/dev/null || echo 2)" \
	fuzz-build fuzz-corpus >"$TMP/build.log" 2>&1
rc=$?
is "$rc" 0 "make fuzz-build builds every target with clang, libFuzzer, ASan and UBSan"
if [ "$rc" != 0 ]; then
	diag "$(tail -30 "$TMP/build.log")"
	done_testing
	exit
fi

# A fixed seed, so that a smoke run explores the same ground each time;
# `make fuzz` is where new ground is searched.
export FUZZ_FLAGS=${FUZZ_FLAGS:--seed=1}
for t in "${targets[@]}"; do
	tests/fuzz/run-targets --seconds "$seconds" --scratch "$t" >"$TMP/run.log" 2>&1
	rc=$?
	is "$rc" 0 "fuzz_$t: regressions replayed, ${seconds}s of fuzzing without a finding"
	diag "$(cat "$TMP/run.log")"
done
done_testing
