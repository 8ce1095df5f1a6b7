#!/usr/bin/env bash
# report.sh - `runbook report`: HTML and Markdown for a passing run and for
# a failing run with a deviation, a skip decision, suggested fixes and a
# rollback; hostile text from the journal stays text; the HTML renders in
# headless Chromium with no console errors.
#
# REPORT_SCREENSHOTS=DIR keeps the screenshots (and pages) for a person to
# look at; by default they live and die in the test's temp directory.
. "$(dirname "$0")/../lib/tap.sh"

export NO_COLOR=1
export WORK=$TMP
PTY=$TOOLS_DIR/ptydrive
cd "$TMP"

ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice
echo "alice@example.com $(cut -d' ' -f1,2 alice.pub)" >allowed_signers

# --- a passing run
run_rb run --yes --sign alice --log pass.jsonl "$FIXTURES/run/state.md"
is "$rc" 0 "a signed passing run"
run_rb report pass.jsonl
is "$rc" 0 "report of a verified complete journal exits 0"
like "$out" '^<!DOCTYPE html>' "HTML on stdout by default"
run_rb report --signers allowed_signers -o pass.html pass.jsonl
is "$rc" 0 "-o FILE"
html=$(cat pass.html)
is "$out" "" "nothing on stdout with -o"
v=$(grep -n 'class="verdict' pass.html | head -1 | cut -d: -f1)
w=$(grep -n 'Who, what, when, where' pass.html | head -1 | cut -d: -f1)
ok "[ -n '$v' ] && [ -n '$w' ] && [ '$v' -lt '$w' ]" "the verdict comes first, then who/what/when/where"
like "$html" 'VERIFIED COMPLETE' "the verdict"
like "$html" 'allowed for <strong>alice@example.com</strong>' "the principal from allowed_signers"
like "$html" '<th>Operator</th><td><strong>[a-z]+</strong> \(uid [0-9]+\) on' "who"
like "$html" '<th>When \(UTC\)</th><td>20[0-9-]+T' "when"
like "$html" 'sha256 <span class="hash">[0-9a-f]{64}' "the runbook's hash"
like "$html" '<a href="#s3">step 2</a></td><td>Use it in another step</td><td><span class="badge v-passed">passed' "the step table"
like "$html" '<svg xmlns="http://www.w3.org/2000/svg"' "a timeline as inline SVG"
like "$html" '<rect x="[0-9.]+" y="[0-9]+" width="[0-9.]+"' "with a bar per step"
like "$html" '@media print' "print styles"
like "$html" '<details><summary>stdout' "outputs collapsible"
unlike "$html" '<script|<link|<img|<iframe|src=|url\(|@import' "no script and no external asset"
unlike "$html" 'href="(https?:)?//' "no external link"

run_rb report --format md -o pass.md pass.jsonl
is "$rc" 0 "--format md"
md=$(cat pass.md)
like "$md" '^# Audit: Shell state carries' "Markdown title"
like "$md" '> \*\*VERIFIED COMPLETE\*\*: verified complete' "the verdict first"
like "$md" '\| step 2 \| Use it in another step \| passed \|' "a step table"
like "$md" '```text' "fenced outputs"
like "$md" '## Timeline' "a timeline"

run_rb report --format pdf pass.jsonl
is "$rc" 2 "an unknown format is a usage error"
run_rb report nothing.jsonl
is "$rc" 3 "an unreadable journal exits 3"

# --- a failing run: deviation skipped with a reason, failure with a documented fix, roll back
"$PTY" -t 30 -o fail.pty -- "$RUNBOOK" run --sign alice --log fail.jsonl "$FIXTURES/report/failing.md" <<'SCRIPT' >fail.out 2>&1
expect Step 1/3
expect \[Enter\] run
send \r
expect s skip
send s
expect reason for skipping
send known lag, ticket OPS-7 <i>x</i>\r
expect Step 2/3
expect \[Enter\] run
send \r
expect Step 3/3
expect \[Enter\] run
send \r
expect b roll back
send b
expect Rolling back
expect \[Enter\] run
send \r
expect Result
SCRIPT
is "$?" 1 "the failing run ends failed, rolled back"
run_rb report --signers allowed_signers -o fail.html fail.jsonl
is "$rc" 0 "report of the failing run (its journal verifies)"
html=$(cat fail.html)
like "$html" '<td><span class="badge v-skipped">skipped</span></td>' "the skipped step"
like "$html" '<tr class="hl-warn"><td><a href="#s1">step 1</a>' "a step with a deviation and a decision is highlighted"
like "$html" '<tr class="hl-bad"><td><a href="#s3">step 3</a>' "the failed step is highlighted"
like "$html" '<strong>deviated:</strong> line 1: after &quot;replica:&quot;, expected &quot;streaming&quot;' "the deviation"
like "$html" '<strong>decision:</strong> skip &mdash; known lag, ticket OPS-7 &lt;i&gt;x&lt;/i&gt;' "the skip decision with its reason, escaped"
like "$html" '<strong>decision</strong>: roll back' "the roll back decision"
like "$html" '<span class="del">-replica: streaming</span><span class="add">\+replica: lagging</span>' "the diff, coloured"
like "$html" 'Documented fixes suggested' "the suggested fixes"
like "$html" 'Check that DATABASE_URL points at the application database' "with the solution"
like "$html" 'rollback &middot; Rollback Procedure' "the rollback's commands"
like "$html" '<details open><summary>stderr: 39 bytes' "a failed command's output is open"
like "$html" 'echo &#39;&lt;script&gt;alert\(&quot;x&quot;\)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;' "a hostile command is text"
like "$html" 'Hostile text &lt;img src=x onerror=alert\(2\)&gt;' "a hostile title is text"
unlike "$html" '<script|<img|<b>bold|<i>x' "no markup from the journal gets through"

run_rb report --format md -o fail.md fail.jsonl
md=$(cat fail.md)
like "$md" '\| step 1 \| Check the replica \| \*\*skipped\*\* \|' "Markdown: the skipped step, in bold"
like "$md" '\*\*decision\*\*: skip \| known lag, ticket OPS-7 &lt;i&gt;x&lt;/i&gt;' "Markdown: the decision, escaped"
like "$md" '```diff' "Markdown: the diff fenced"
like "$md" '\| relation "users" does not exist \| connected to the wrong database \|' "Markdown: the suggestions table"
like "$md" 'Hostile text &lt;img src=x onerror=alert\(2\)&gt;' "Markdown: a hostile title is text"
unlike "$(grep -v '^echo ' fail.md | grep -v '^<script>')" '<script|<img' "Markdown: raw markup only inside fences"

# --- a broken journal: the verdict says so first
cp pass.jsonl broken.jsonl; cp pass.jsonl.sig broken.jsonl.sig
sed -i '3s/"type"/"typf"/' broken.jsonl
run_rb report -o broken.html broken.jsonl
is "$rc" 1 "report of a broken journal is written and exits 1"
like "$(cat broken.html)" '<div class="word">BROKEN</div>' "the page says BROKEN"
like "$(cat broken.html)" 'BROKEN at line 3' "and where"

# --- Chromium: the pages render, with no console errors
chrome() { # chrome PAGE PNG: screenshot; stderr (console) in PNG.log
	local profile
	profile=$(mktemp -d "$TMP/chrome.XXXXXX")
	timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$profile" --enable-logging=stderr --v=0 \
		--screenshot="$2" --window-size=1280,2000 "file://$1" >"$2.out" 2>"$2.log"
}
if command -v chromium >/dev/null 2>&1; then
	# the detector itself: a page that logs an error must be caught
	printf '<!DOCTYPE html><title>x</title><script>console.error("planted"); undefinedFn();</script>\n' >bad.html
	chrome "$TMP/bad.html" bad.png
	ok "grep -Eq 'CONSOLE[(:]|Uncaught' bad.png.log" "Chromium's console errors are seen (control page)"
	for page in pass fail broken; do
		chrome "$TMP/$page.html" "$page.png"
		is "$?" 0 "Chromium renders the $page report"
		ok "[ \$(stat -c %s $page.png) -gt 20000 ]" "the $page screenshot is a real picture"
		errs=$(grep -E 'CONSOLE[(:]|Uncaught' "$page.png.log")
		is "$errs" "" "no console errors on the $page report"
	done
	if [ -n "${REPORT_SCREENSHOTS:-}" ]; then
		mkdir -p "$REPORT_SCREENSHOTS" && cp pass.png fail.png broken.png pass.html fail.html "$REPORT_SCREENSHOTS/"
	fi
else
	_tap_result 0 "# skip chromium is not installed (make deps installs it)"
fi

done_testing
