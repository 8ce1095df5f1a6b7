#!/usr/bin/env bash
# hostile.sh - hostile input, end to end through the binary: catastrophic
# patterns, shell injection through captured values, --var and file names,
# commands hidden with terminal escapes, path tricks at --log and --resume,
# private keys with loose permissions, and the modes of what runbook writes.
. "$(dirname "$0")/../lib/tap.sh"

export NO_COLOR=1
F=$FIXTURES/faults
cd "$TMP"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ===== catastrophic backtracking: (a+)+$ against 10,000 a's and a b
mkdir regex && cd regex
t0=$(now_ms)
run_rb run --yes --keep-going --log regex.jsonl "$F/regex.md"
took=$(( $(now_ms) - t0 ))
is "$rc" 1 "the steps deviate"
like "$out" '1 +A regex that backtracks forever +deviated' "match=regex (a+)+\$ deviates"
like "$out" '2 +A capture that backtracks forever +deviated' "so does a capture {{RUN:(a+)+\$}}"
is "$(jq -r 'select(.type=="block.end") | .reason' regex.jsonl | grep -c 'match limit exceeded')" 2 "both say: match limit exceeded"
ok "[ $took -lt 5000 ]" "and end promptly (${took} ms for both)"
run_rb check "$F/regex.md"
is "$rc" 0 "check accepts the patterns themselves"
cd "$TMP"

# ===== shell injection through captured values, --var and the file name
mkdir inject && cd inject
mkdir pw
hostile_var='$(touch '"$TMP"'/inject/pw/var-dollar)`touch '"$TMP"'/inject/pw/var-tick`;touch '"$TMP"'/inject/pw/var-semi
touch '"$TMP"'/inject/pw/var-newline'
run_rb run --yes --var PWNDIR="$TMP/inject/pw" --var USERVAR="$hostile_var" "$F/inject.md"
is "$rc" 0 "a run with shell syntax in a captured value and in --var passes"
like "$out" 'captured TAG=x\$\(touch .*capture-dollar\);touch .*capture-semi`touch .*capture-tick`\|touch .*capture-pipe' "the capture holds the hostile text"
like "$out" '│ captured=\[x\$\(touch ' "a command sees it as data"
is "$(ls pw)" "" "nothing in the values ran: no file was created"

# the capture again, restored from the journal after a kill -9
rm -rf .runbook pw && mkdir pw
"$RUNBOOK" run --yes --var PWNDIR="$TMP/inject/pw" --var KILL_AT=step2 --var USERVAR="$hostile_var" "$F/inject.md" >kill.out 2>&1
is "$?" 137 "runbook is killed in step 2"
run_rb run --yes --resume --in-flight=rerun "$F/inject.md"
is "$rc" 0 "the resumed run passes"
like "$out" 'restored TAG=x\$\(touch ' "the hostile capture is restored from the journal"
like "$out" '│ nothing ran' "and still nothing in it runs"
is "$(ls pw)" "killed" "no file but the test's own marker"

# a runbook whose file name is shell syntax
rm -rf .runbook pw && mkdir pw
name="x'\$(touch pw-name-dollar)\`touch pw-name-tick\`;touch pw-name-semi'.md"
cp "$F/inject.md" "$name"
run_rb run --yes --var PWNDIR="$TMP/inject/pw" --var USERVAR=plain "$name"
is "$rc" 0 "a runbook named $name runs"
is "$(ls | grep -c '^pw-name')" 0 "its name ran nowhere"

# --var names are checked
run_rb run --yes --var 'X;touch pw/var-name=1' "$F/inject.md"
is "$rc" 2 "a --var name with shell syntax is a usage error"
is "$(ls pw)" "" "and nothing ran"
cd "$TMP"

# ===== commands hidden with terminal escapes are shown, not obeyed
mkdir hidden && cd hidden
printf '# Hidden\n\n## Step 1: Innocent\n\n```bash\necho hello \033[8m; touch hidden-pwned \033[0m\necho visible\b\b\b\b\b\b\brm -rf x\necho \342\200\256dedaer\n```\n\n## Rollback Procedure\n\n```bash\ntrue\n```\n' >hidden.md
run_rb show hidden.md
ok "! grep -q \$'\\033' '$TMP/out'" "show prints no ESC byte"
like "$out" 'echo hello \\x1b\[8m; touch hidden-pwned \\x1b\[0m' "the concealed command is there to read"
like "$out" 'visible\\x08\\x08\\x08\\x08\\x08\\x08\\x08rm -rf x' "backspaces are shown"
like "$out" 'echo \\u202ededaer' "a right-to-left override is shown"
run_rb run --dry-run hidden.md
ok "! grep -q \$'\\033' '$TMP/out'" "run --dry-run prints no ESC byte either"
like "$out" 'touch hidden-pwned \\x1b\[0m' "and shows the whole command"
run_rb check hidden.md
like "$out" 'hidden.md:6:1: warning: command contains U\+001B.*\[hidden-character\]' "check warns about it"
cd "$TMP"

# ===== path tricks at --log and --resume
mkdir paths && cd paths
cp "$FIXTURES/run/state.md" .
echo "precious" >target.txt
before=$(stat -c '%s %Y' target.txt)
ln -s "$TMP/paths/target.txt" link.jsonl
run_rb run --yes --log link.jsonl state.md
is "$rc" 4 "--log at a symbolic link to another file is refused"
like "$err" 'link.jsonl is a symbolic link; refusing to write through it' "it says why"
is "$(cat target.txt) $(stat -c '%s %Y' target.txt)" "precious $before" "the link's target is untouched"
unlike "$out" 'Step 1/' "and nothing ran"
ln -s "$TMP/paths/not-there.jsonl" dangling.jsonl
run_rb run --yes --log dangling.jsonl state.md
is "$rc" 4 "a dangling symbolic link is refused too"
ok "[ ! -e not-there.jsonl ]" "no file appears at its target"
: >exists.jsonl
run_rb run --yes --log exists.jsonl state.md
is "$rc" 4 "an existing file is never written over"
is "$(stat -c %s exists.jsonl)" 0 "it stays empty"
mkfifo fifo.jsonl
run_rb run --yes --log fifo.jsonl state.md
is "$rc" 4 "a FIFO at --log is refused (and does not block)"
run_rb run --yes --log new/dir/run.jsonl state.md
is "$rc" 0 "--log in a missing directory creates it"
is "$(stat -c %a new/dir) $(stat -c %a new/dir/run.jsonl)" "700 600" "directory 0700, journal 0600"
# resume through a symbolic link
"$RUNBOOK" run --yes --var COUNTER="$TMP/paths/c" --var KILL_AT=step2 --log crashed.jsonl "$FIXTURES/journal/crash.md" >/dev/null 2>&1
ln -s "$TMP/paths/crashed.jsonl" crashed-link.jsonl
size=$(stat -c %s crashed.jsonl)
run_rb run --yes --resume=crashed-link.jsonl --in-flight=rerun "$FIXTURES/journal/crash.md"
is "$rc" 4 "--resume through a symbolic link is refused"
like "$err" 'symbolic link' "saying so"
is "$(stat -c %s crashed.jsonl)" "$size" "the journal behind it is unchanged"
cd "$TMP"

# ===== private keys with loose permissions
mkdir keys && cd keys
"$RUNBOOK" keygen -f key >/dev/null 2>&1
is "$(stat -c %a key)" 600 "keygen writes the private key 0600"
for mode in 644 640 604 660; do
	chmod $mode key
	run_rb run --yes --sign key --log run-$mode.jsonl "$FIXTURES/run/state.md"
	is "$rc" 4 "a key with mode $mode is refused (exit 4)"
	like "$err" "key key: (readable|accessible) by group or others \\(mode 0$mode\\); run chmod 600 key" "saying how to fix it"
	ok "[ ! -e run-$mode.jsonl ]" "before anything is written or run"
done
chmod 600 key
ln -s key key-link
run_rb run --yes --sign key-link --log run-link.jsonl "$FIXTURES/run/state.md"
is "$rc" 4 "a key given through a symbolic link is refused"
if [ "$(id -u)" = 0 ]; then
	cp key key-nobody && chown nobody key-nobody && chmod 600 key-nobody
	run_rb run --yes --sign key-nobody --log run-nobody.jsonl "$FIXTURES/run/state.md"
	is "$rc" 4 "a key owned by someone else is refused"
	like "$err" 'owned by uid [0-9]+, not by you' "saying whose it is"
fi
run_rb run --yes --sign key --log signed.jsonl "$FIXTURES/run/state.md"
is "$rc" 0 "with mode 600 the signed run passes"
is "$(stat -c %a signed.jsonl) $(stat -c %a signed.jsonl.sig)" "600 644" "journal 0600, its public signature 0644"
cd "$TMP"

# ===== what runbook writes is private, whatever the umask
mkdir modes && cd modes
mkdir tmpdir
cat >big.md <<'MD'
# Spills

## Step 1: Print 20 MB so that the output spills to a file

```bash
export DB_PASSWORD=pw-in-the-shell
head -c 20000000 /dev/zero | tr '\0' 'x'
echo
sleep 1
```

## Step 2: Die with the state saved

```bash
exit 3
```

## Step 3: Run on the restored state

```bash
sleep 0.5
```

## Rollback Procedure

```bash
true
```
MD
( while :; do
	for f in tmpdir/runbook-*/ tmpdir/runbook-*/*; do
		# a file may vanish between the glob and stat: print only what stat saw
		m=$(stat -c %a "$f" 2>/dev/null) && printf '%s %s\n' "$m" "${f#tmpdir/runbook-*/}"
	done
	sleep 0.05
  done >modes.seen 2>/dev/null ) &
watcher=$!
( umask 000; TMPDIR=$TMP/modes/tmpdir "$RUNBOOK" run --yes --keep-going --quiet-output big.md >run.out 2>&1 )
kill $watcher; wait $watcher 2>/dev/null
grep -v '^ *$' modes.seen | sort -u >modes.txt
diag "modes seen in the work directory under umask 000:" "$(tr '\n' ' ' <modes.txt)"
ok "grep -q '^700 \$' modes.txt" "the work directory is 0700"
ok "grep -q '^600 spill-' modes.txt" "the spill file is 0600"
ok "grep -q '^600 state\.' modes.txt" "the shell's state snapshot (its variables, secrets included) is 0600"
is "$(grep -v -e '^700 $' -e '^600 ' modes.txt)" "" "everything in it (blocks, spill files, shell state) is 0600"
log=$(ls .runbook/logs/big-*.jsonl)
is "$(stat -c %a .runbook) $(stat -c %a .runbook/logs) $(stat -c %a "$log")" "700 700 600" "the journal 0600 in directories 0700, under umask 000"
is "$(ls -A tmpdir)" "" "the work directory is gone afterwards"
cd "$TMP"

done_testing
