# tap.sh - tiny TAP producer for end-to-end tests (sourced by tests/e2e/*.sh).
#
#   run_rb ARGS...        runs $RUNBOOK; sets $out, $err, $rc
#   ok COND DESC          COND is a shell command; passes when it succeeds
#   is GOT WANT DESC      string equality, shows both on failure
#   like TEXT REGEX DESC  grep -E match
#   unlike TEXT REGEX DESC
#   done_testing          prints the plan; call last

_tap_n=0
_tap_failed=0
TMP=$(mktemp -d /tmp/runbook-e2e.XXXXXX)
chmod 755 "$TMP"
trap 'rm -rf "$TMP"' EXIT

_tap_result() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_failed=$((_tap_failed + 1))
	fi
}

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

ok() {
	local desc=$2
	if eval "$1" >/dev/null 2>&1; then _tap_result 0 "$desc"; else
		_tap_result 1 "$desc"; diag "condition failed: $1"; fi
}

is() {
	if [ "$1" = "$2" ]; then _tap_result 0 "$3"; else
		_tap_result 1 "$3"; diag "got:" "$1" "want:" "$2"; fi
}

like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then _tap_result 0 "$3"; else
		_tap_result 1 "$3"; diag "no match for /$2/ in:" "$(printf '%s' "$1" | head -40)"; fi
}

unlike() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		_tap_result 1 "$3"; diag "unexpected match for /$2/ in:" "$(printf '%s' "$1" | head -40)"
	else _tap_result 0 "$3"; fi
}

run_rb() {
	"$RUNBOOK" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	out=$(cat "$TMP/out")
	err=$(cat "$TMP/err")
}

done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" = 0 ]
}

FIXTURES=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)
: "${RUNBOOK:?RUNBOOK must point at the binary under test}"
