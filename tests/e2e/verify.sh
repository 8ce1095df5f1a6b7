#!/usr/bin/env bash
# verify.sh - `runbook verify` on real journals, signed with keys made by
# ssh-keygen, and the tamper matrix: every change must be caught by runbook
# and, where a LOG.sig applies, by `ssh-keygen -Y verify` too.
. "$(dirname "$0")/../lib/tap.sh"

export NO_COLOR=1
export WORK=$TMP
V=$FIXTURES/verify
cd "$TMP"

ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f alice
ssh-keygen -q -t ed25519 -N '' -C mallory@example.com -f mallory
echo "alice@example.com $(cut -d' ' -f1,2 alice.pub)" >allowed_signers

# sshv LOG [SIG]: OpenSSH alone checks the journal against allowed_signers.
sshv() { ssh-keygen -Y verify -f allowed_signers -I alice@example.com -n runbook-log -s "${2:-$1.sig}" <"$1" >/dev/null 2>&1; }
first_line() { printf '%s\n' "$out" | head -1; }

# --- real journals: signed (their key, our signatures), unsigned, a database run
run_rb run --yes --sign alice --log signed.jsonl "$FIXTURES/run/state.md"
is "$rc" 0 "a signed run of the state runbook passes"
run_rb run --yes --sign alice --log other.jsonl "$FIXTURES/run/state.md"
is "$rc" 0 "a second signed run (run B)"
run_rb run --yes --log unsigned.jsonl "$FIXTURES/run/state.md"
is "$rc" 0 "an unsigned run passes"
nlines=$(wc -l <signed.jsonl)

run_rb verify signed.jsonl
is "$rc" 0 "verify: a signed, finished journal exits 0"
is "$(first_line)" "verified complete" "the verdict comes first"
like "$out" "intact over $nlines lines" "the chain is checked over every line"
like "$out" '4 checkpoints verified, LOG.sig verified over the whole file' "every checkpoint and LOG.sig are checked"
fp=$(ssh-keygen -lf alice.pub | cut -d' ' -f2)
ok "printf '%s' \"\$out\" | grep -qF 'signed by   $fp'" "the signer is named by fingerprint, as ssh-keygen -l shows it"
like "$out" 'who signed is not checked' "without allowed_signers it says the signer was not checked"
like "$out" 'operator +[a-z]+ \(uid [0-9]+\) on ' "summary: who"
like "$out" 'started +20[0-9-]+T' "summary: when"
like "$out" 'runbook +.*state\.md' "summary: the runbook"
like "$out" 'sha256 [0-9a-f]{64}' "summary: its hash"
like "$out" 'step 2 +Use it in another step +passed' "summary: each step's verdict"
ok "sshv signed.jsonl" "ssh-keygen -Y verify accepts the untampered LOG.sig"

run_rb verify --signers allowed_signers signed.jsonl
is "$rc" 0 "with allowed_signers: verified complete"
like "$out" 'allowed for alice@example.com' "the principal the key is allowed for is reported"
run_rb verify --signers allowed_signers --principal alice@example.com signed.jsonl
is "$rc" 0 "--principal alice@example.com is satisfied"
run_rb verify --signers allowed_signers --principal bob@example.com signed.jsonl
is "$rc" 1 "--principal bob@example.com is not"
like "$(first_line)" '^BROKEN at line [0-9]+ .*not in allowed_signers for principal bob@example.com' "and says why"
run_rb verify --principal alice@example.com signed.jsonl
is "$rc" 2 "--principal without --signers is a usage error"
run_rb verify missing.jsonl
is "$rc" 3 "an unreadable journal exits 3"
echo "alice@example.com ssh-ed25519 AAAA-not-base64" >bad_signers
run_rb verify --signers bad_signers signed.jsonl
is "$rc" 3 "an unreadable allowed_signers exits 3"
like "$err" 'bad_signers:1' "naming the file and line"

run_rb verify --json --signers allowed_signers signed.jsonl
is "$rc" 0 "--json exits like the text form"
ok "printf '%s' \"\$out\" | jq -e '.verdict == \"verified\" and .ok and .log_sig == \"valid\" and .checkpoints == 4'" "--json: verdict, LOG.sig and checkpoints"
ok "printf '%s' \"\$out\" | jq -e '.signers[0].principal == \"alice@example.com\"'" "--json: the principal"
is "$(printf '%s' "$out" | jq .signers[0].signatures)" 5 "--json: alice's signatures, the 4 checkpoints and LOG.sig"
ok "printf '%s' \"\$out\" | jq -e '(.summary.steps | length) == 4 and .summary.result == \"completed\" and .summary.operator.user != null'" "--json: the summary"

# a checkpoint alone, with OpenSSH, as docs/log-format.md shows
cp_line=$(grep -n '"type":"sig"' signed.jsonl | sed -n 2p | cut -d: -f1)
sed -n "${cp_line}p" signed.jsonl | jq -r .signature >cp.sig
cp_bytes=$(sed -n "${cp_line}p" signed.jsonl | jq -r .covers.bytes)
ok "head -c $cp_bytes signed.jsonl | ssh-keygen -Y verify -f allowed_signers -I alice@example.com -n runbook-log -s cp.sig" \
	"ssh-keygen verifies a checkpoint over the bytes it covers"

run_rb verify unsigned.jsonl
is "$rc" 1 "an unsigned journal exits 1"
is "$(first_line)" "unsigned (chain intact, complete)" "verdict: unsigned, chain intact, complete"

# --- output with a NUL byte: the journal holds it as \u0000, and every reader
# of the journal (verify, report, resume) takes what the writer wrote
printf '# NUL\n\n## Step 1: Print a NUL\n\n```bash\nprintf '"'"'a\\0b\\n'"'"'\n```\n\n## Rollback Procedure\n\n```bash\ntrue\n```\n' >nul.md
run_rb run --yes --sign alice --log nul.jsonl nul.md
is "$rc" 0 "a block printing a NUL byte passes"
like "$(cat nul.jsonl)" 'a\\u0000b' "the journal holds the NUL as \\u0000"
run_rb verify --signers allowed_signers nul.jsonl
is "$(first_line)" "verified complete" "verify accepts the journal"
ok "sshv nul.jsonl" "as ssh-keygen does"
run_rb report -o nul.html nul.jsonl
is "$rc" 0 "report renders it"

# --- the tamper matrix on the signed journal
fresh() { cp signed.jsonl "$1"; cp signed.jsonl.sig "$1.sig"; }

# expect_broken LOG DESC [REASON]: runbook says BROKEN (exit 1) and ssh-keygen rejects it
expect_broken() {
	run_rb verify --signers allowed_signers "$1"
	if [ "$rc" = 1 ] && first_line | grep -Eq "^BROKEN at line [0-9]+ \(.*${3:-}"; then
		_tap_result 0 "$2: BROKEN"
	else
		_tap_result 1 "$2: BROKEN"; diag "exit $rc" "$(first_line)"
	fi
	ok "! sshv '$1'" "$2: ssh-keygen -Y verify fails too"
}

flip() { # flip FILE OFFSET: one bit of one byte
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# every line, five places each: a key, a value (the time), the middle,
# the prev hash and the newline
line=0
while read -r start len key ts prev; do
	line=$((line + 1))
	bad=""
	for pos in $((start + key)) $((start + ts + 8)) $((start + len / 2)) $((start + prev + 12)) $((start + len)); do
		fresh t.jsonl
		flip t.jsonl "$pos"
		"$RUNBOOK" verify --signers allowed_signers t.jsonl >t.out 2>&1
		vrc=$?
		at=$(head -1 t.out | sed -n 's/^BROKEN at line \([0-9]*\) .*/\1/p')
		if [ "$vrc" != 1 ] || [ -z "$at" ] || [ "$at" -lt $((line - 1)) ] || [ "$at" -gt $((line + 1)) ]; then
			bad="$bad byte $pos: exit $vrc, $(head -1 t.out);"
		fi
		sshv t.jsonl && bad="$bad byte $pos: ssh-keygen accepted it;"
	done
	is "$bad" "" "flipping a bit in line $line (key, value, middle, prev, newline): BROKEN at line $line±1, ssh-keygen rejects"
done < <(LC_ALL=C awk '{ print s + 0, length($0), index($0, "\"type\""), index($0, "\"ts\":\""), index($0, "\"prev\":\""); s += length($0) + 1 }' signed.jsonl)

fresh del.jsonl; sed -i 5d del.jsonl
expect_broken del.jsonl "delete line 5" "seq is 5 where 4 was expected"
fresh del1.jsonl; sed -i 1d del1.jsonl
expect_broken del1.jsonl "delete line 1"
sigline=$(grep -n '"type":"sig"' signed.jsonl | head -1 | cut -d: -f1)
fresh delsig.jsonl; sed -i "${sigline}d" delsig.jsonl
expect_broken delsig.jsonl "delete the first checkpoint (line $sigline)"
fresh swap.jsonl; sed -i '3{h;d};4{G}' swap.jsonl
expect_broken swap.jsonl "swap lines 3 and 4"
fresh swapend.jsonl; sed -i "$((nlines - 1)){h;d};${nlines}{G}" swapend.jsonl
expect_broken swapend.jsonl "swap the last two lines"
fresh trunc.jsonl; sed -i '$d' trunc.jsonl
expect_broken trunc.jsonl "truncate the tail (run.end removed)" "LOG.sig"
fresh cut.jsonl; truncate -s -40 cut.jsonl
expect_broken cut.jsonl "truncate in the middle of the last line" "LOG.sig"
like "$out" 'the last line is incomplete' "the incomplete last line is reported"
fresh trunc2.jsonl; sed -i '$d' trunc2.jsonl; rm trunc2.jsonl.sig
run_rb verify trunc2.jsonl
is "$rc" 1 "truncated and LOG.sig deleted: exit 1"
like "$(first_line)" '^verified up to step 3 \(incomplete\)' "truncated and LOG.sig deleted: not complete, verified up to step 3"

# a forged line with a correct-looking prev
forge() { # forge FILE JSON-AFTER-PREV: appends {"v":1,"seq":N,...,"prev":H, JSON}
	local n prev
	n=$(wc -l <"$1")
	prev=$(tail -n 1 "$1" | tr -d '\n' | sha256sum | cut -d' ' -f1)
	printf '{"v":1,"seq":%d,"ts":"2026-11-21T13:59:59.000Z","type":"%s","prev":"%s",%s}\n' "$n" "$2" "$prev" "$3" >>"$1"
}
fresh app.jsonl
forge app.jsonl decision '"choice":"accept","reason":"forged","about":"x","by":"operator"'
expect_broken app.jsonl "append a forged line after run.end" "a record after run.end"
fresh app2.jsonl; sed -i '$d' app2.jsonl
forge app2.jsonl decision '"choice":"accept","reason":"forged","about":"x","by":"operator"'
forge app2.jsonl run.end '"result":"completed","exit":0,"steps":{"passed":3},"duration_ms":1'
expect_broken app2.jsonl "replace run.end by forged lines with recomputed prevs" "LOG.sig: signature does not match the data"
fresh app3.jsonl; sed -i '$d' app3.jsonl; rm app3.jsonl.sig
forge app3.jsonl run.end '"result":"completed","exit":0,"steps":{"passed":3},"duration_ms":1'
run_rb verify --signers allowed_signers app3.jsonl
is "$rc" 1 "forged run.end and LOG.sig deleted: exit 1"
like "$out" 'LOG.sig is missing: lines [0-9]+-[0-9]+, up to run.end, are covered by no signature' "forged run.end and LOG.sig deleted: not verified complete, says why"
ok "! sshv app3.jsonl" "forged run.end and LOG.sig deleted: ssh-keygen has nothing to accept"

cp other.jsonl swapped.jsonl; cp signed.jsonl.sig swapped.jsonl.sig
expect_broken swapped.jsonl "run B's journal with run A's LOG.sig" "LOG.sig: signature does not match the data"

fresh resigned.jsonl; rm resigned.jsonl.sig
ssh-keygen -q -Y sign -f mallory -n runbook-log resigned.jsonl
expect_broken resigned.jsonl "LOG.sig re-signed with a key not in allowed_signers" "not in allowed_signers"
run_rb verify resigned.jsonl
like "$(first_line)" "^BROKEN .*LOG.sig is signed by key SHA256:.*, not by the journal's key" "re-signed: without allowed_signers, the key is not the journal's"

run_rb run --yes --sign mallory --log mallory.jsonl "$FIXTURES/run/state.md"
expect_broken mallory.jsonl "a whole run signed by a key not in allowed_signers" "not in allowed_signers"

fresh ns.jsonl; rm ns.jsonl.sig
ssh-keygen -q -Y sign -f alice -n file ns.jsonl
expect_broken ns.jsonl "LOG.sig made with -n file" "namespace is 'file', expected 'runbook-log'"

# a checkpoint's signature replaced by another real one (valid SSHSIG, same
# key, same length, over other bytes), every later prev recomputed: the
# chain is intact, so only the signatures can tell
rechain() { # rechain FILE FROM: recompute the prev of every line after FROM
	local f=$1 i n prev
	n=$(wc -l <"$f")
	for ((i = $2 + 1; i <= n; i++)); do
		prev=$(sed -n "$((i - 1))p" "$f" | tr -d '\n' | sha256sum | cut -d' ' -f1)
		sed -i "${i}s/\"prev\":\"[0-9a-f]*\"/\"prev\":\"$prev\"/" "$f"
	done
}
mapfile -t cps < <(grep -n '"type":"sig"' signed.jsonl | cut -d: -f1)
sig_of() { sed -n "${1}p" signed.jsonl | jq -r .signature; }
is "$(sed -n "${cps[1]}p" signed.jsonl | jq -c .)" "$(sed -n "${cps[1]}p" signed.jsonl)" "jq -c writes a checkpoint line as runbook does"
resig() { # resig FILE LINE SIG: that checkpoint line with another signature, then rechain
	local l
	l=$(sed -n "${2}p" "$1" | jq -c --arg s "$3" '.signature = $s')
	L=$l awk -v n="$2" 'NR == n { print ENVIRON["L"]; next } { print }' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
	rechain "$1" "$2"
}
fresh midsig.jsonl; resig midsig.jsonl "${cps[1]}" "$(sig_of "${cps[0]}")"
run_rb verify midsig.jsonl
like "$(first_line)" "^BROKEN at line ${cps[1]} \\(checkpoint signature" "checkpoint 2 of 4 given checkpoint 1's signature, chain recomputed: BROKEN at that checkpoint"
like "$out" 'chain +intact' "the chain itself is intact (only the signature tells)"
run_rb verify --json midsig.jsonl
is "$(printf '%s' "$out" | jq .checkpoints)" 1 "--json: the one checkpoint before it still counts"
is "$(printf '%s' "$out" | jq .signers[0].signatures)" 1 "--json: and only its signature is counted as alice's"
ok "! sshv midsig.jsonl" "ssh-keygen rejects the file too"
fresh lastsig.jsonl; resig lastsig.jsonl "${cps[3]}" "$(sig_of "${cps[2]}")"
run_rb verify lastsig.jsonl
like "$(first_line)" "^BROKEN at line ${cps[3]} \\(checkpoint signature" "the last checkpoint given the one before's signature: BROKEN at the last checkpoint"
run_rb verify --json lastsig.jsonl
is "$(printf '%s' "$out" | jq .checkpoints)" 3 "--json: the three checkpoints before it count"

fresh nosig.jsonl; rm nosig.jsonl.sig
run_rb verify nosig.jsonl
is "$rc" 1 "a signed journal without its LOG.sig is not verified complete"
like "$out" "LOG.sig is missing: lines $((nlines - 1))-$nlines, up to run.end, are covered by no signature" "and says why"

# unsigned journals: the chain still catches edits before the last line
cp unsigned.jsonl u1.jsonl; flip u1.jsonl 300
run_rb verify u1.jsonl
like "$(first_line)" '^BROKEN at line [12] ' "unsigned: a flipped bit in line 1 is BROKEN"
cp unsigned.jsonl u2.jsonl; sed -i '$d' u2.jsonl
run_rb verify u2.jsonl
like "$(first_line)" '^verified up to step 3 \(incomplete, unsigned\)' "unsigned without run.end: incomplete"

# --- a crash: kill -9 while step 2 runs
rm -f nap.pid
"$RUNBOOK" run --yes --sign alice --log crash.jsonl --var PIDFILE="$TMP/nap.pid" "$V/slow.md" >crash.out 2>&1 &
rb=$!
for i in $(seq 200); do [ -s nap.pid ] && break; sleep 0.05; done
kill -9 "$rb"; wait "$rb" 2>/dev/null
[ -s nap.pid ] && kill "$(cat nap.pid)" 2>/dev/null
run_rb verify --signers allowed_signers crash.jsonl
is "$rc" 1 "a crashed signed run exits 1"
is "$(first_line)" "verified up to step 1 (incomplete)" "verified up to the last step a checkpoint covers"
like "$out" 'no run.end: the run stopped before it finished' "says the run stopped"
like "$out" 'step 2 +Slow +did not end' "the in-flight step is shown"
cp crash.jsonl crash2.jsonl
printf '{"v":1,"seq":99,"ts":"2026-' >>crash2.jsonl
run_rb verify --signers allowed_signers crash2.jsonl
is "$(first_line)" "verified up to step 1 (incomplete)" "an incomplete last line (crash mid-write) is ignored for the chain"
like "$out" 'the last line is incomplete \(27 bytes, no newline\)' "and reported"

run_rb run --yes --sign alice --resume=crash.jsonl --in-flight=rerun --var PIDFILE="$TMP/nap.pid" --var NAP=0 "$V/slow.md"
is "$rc" 0 "the crashed run resumes and completes"
run_rb verify --signers allowed_signers crash.jsonl
is "$rc" 0 "a resumed journal verifies complete: the chain runs through run.resume"
like "$out" 'resume: resumed by .*step-2 was in flight' "the resume is in the summary"
like "$out" 'decision: re-run in-flight step' "with the decision about the in-flight step"
ok "sshv crash.jsonl" "ssh-keygen accepts the resumed journal's LOG.sig"

# --- secrets: URL password, environment token, SQL password never reach the journal
DBURL="postgresql://postgres:topsecret@/postgres?host=$PGHOST&port=$PGPORT"
psql -qX -d postgres -c "DROP ROLE IF EXISTS rb_verify_secret" >/dev/null 2>&1
API_TOKEN=topsecret2 run_rb run --yes --sign alice --log secrets.jsonl --db "$DBURL" "$V/secrets.md"
is "$rc" 0 "the run with secrets passes"
like "$out" 'calling the API with \*\*\*' "the token is masked on screen too"
for s in topsecret topsecret2 topsecret3; do
	is "$(grep -c "$s" secrets.jsonl)" 0 "the journal never contains $s"
done
ok "jq -se '[.[] | .redacted[\"secret-value\"] // 0] | add > 0' secrets.jsonl" "the environment token is recorded as a redacted count"
ok "jq -se '[.[] | .redacted[\"sql-password\"] // 0] | add > 0' secrets.jsonl" "the SQL password is recorded as a redacted count"
ok "head -1 secrets.jsonl | jq -e '.target.conninfo | test(\"password\") | not'" "the target's conninfo has no password"
run_rb verify --signers allowed_signers secrets.jsonl
is "$rc" 0 "the journal with masked secrets verifies complete"
like "$out" 'target +host=.*dbname=postgres' "the target database is in the summary"
ok "sshv secrets.jsonl" "and ssh-keygen accepts it"

# --- a real database run on a sandbox
mkdir -p sbx
TMPDIR=$TMP/sbx run_rb run --yes --sandbox --sign alice --log db.jsonl "$FIXTURES/../../runbooks/001-add-last-login-at.md"
is "$rc" 0 "the seed-001 runbook passes on a sandbox"
run_rb verify --signers allowed_signers db.jsonl
is "$rc" 0 "its journal verifies complete"
like "$out" 'PostgreSQL [0-9]+.*system identifier [0-9]+, sandbox' "with the server version and system identifier"
like "$out" 'step 3 +.*passed' "and every step"
ok "sshv db.jsonl" "ssh-keygen accepts it"
cp db.jsonl dbswap.jsonl; cp signed.jsonl.sig dbswap.jsonl.sig
expect_broken dbswap.jsonl "the database run's journal with another run's LOG.sig" "LOG.sig"

done_testing
