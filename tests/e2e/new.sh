#!/usr/bin/env bash
# new.sh - `runbook new` and the shipped templates: every template gives a
# runbook that `runbook check` accepts, with and without --set, and that
# runs green on a throwaway PostgreSQL once filled, rollback included.
. "$(dirname "$0")/../lib/tap.sh"

TOP=$(cd "$(dirname "$0")/../.." && pwd)
T=$FIXTURES/templates
export NO_COLOR=1
unset RUNBOOK_TEMPLATES
TODAY=$(date +%Y-%m-%d)
TEMPLATES="add-column-with-default add-index-concurrently add-nullable-column add-table-with-fk
batched-backfill change-column-type manual-guide rename-column"

cd "$TMP" || exit 1

# new_in DIR ARGS...: runs `runbook new` in DIR; sets $out, $err, $rc
new_in() {
	local dir=$1; shift
	(cd "$dir" && "$RUNBOOK" new "$@") >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	out=$(cat "$TMP/out")
	err=$(cat "$TMP/err")
}

# set_args NAME: the --set options of tests/fixtures/templates/NAME.vars
set_args() {
	local line
	SET_ARGS=()
	while IFS= read -r line; do
		[ -n "$line" ] && SET_ARGS+=(--set "$line")
	done <"$T/$1.vars"
}

# rehearsal FILE: the runbook's steps, then its Rollback Procedure as one
# more step, then the steps again (renumbered), then its Final Verification:
# forward, rollback, forward again in one run.
rehearsal() {
	awk '
	/^## / {
		if ($0 ~ /^## Step [0-9]+/) { section = "step"; nsteps++ }
		else if ($0 ~ /^## Final Verification/) section = "final"
		else if ($0 ~ /^## Rollback Procedure/) { section = "rollback"; next }
		else if (section == "") section = "pre-note"
		else section = "other"
	}
	section == "" || section == "pre-note" { pre = pre $0 "\n"; next }
	section == "step" { steps = steps $0 "\n"; next }
	section == "final" { final = final $0 "\n"; next }
	section == "rollback" { rollback = rollback $0 "\n"; next }
	END {
		printf "%s%s", pre, steps
		printf "## Step %d: Roll Back\n\n%s", nsteps + 1, rollback
		n = split(steps, lines, "\n")
		for (i = 1; i < n; i++) {
			line = lines[i]
			if (line ~ /^## Step [0-9]+/) {
				rest = substr(line, 9)
				num = rest + 0
				sub(/^[0-9]+/, "", rest)
				line = "## Step " (num + nsteps + 1) rest
			}
			print line
		}
		printf "%s", final
	}' "$1"
}

# --- --list
run_rb new --list
is "$rc" 0 "new --list exits 0"
is "$(printf '%s\n' "$out" | wc -l)" 8 "new --list prints one line per template"
for name in $TEMPLATES; do
	like "$out" "^$name  +[A-Z][^ ]+ .{20,}" "new --list shows $name with a description"
done

run_rb new --list --template rename-column
is "$rc" 0 "new --list --template exits 0"
like "$out" '^rename-column: Rename a column' "the placeholder list starts with the description"
like "$out" 'OLD_COLUMN +ident +the column.s current name' "it lists the placeholders with kind and description"
like "$out" 'BATCH_SIZE +int +rows per transaction.*\(default 10000\)' "and their defaults"
like "$out" 'DATE +date +today' "and the built-in ones"

# --- every template, without --set: check passes, markers are left
for name in $TEMPLATES; do
	mkdir -p "$TMP/plain"
	new_in "$TMP/plain" "Plain $name" --template "$name" -o "$name.md"
	f=$TMP/plain/$name.md
	is "$rc" 0 "$name: new without --set exits 0"
	like "$out" "wrote $name.md from template $name" "$name: says what it wrote"
	like "$out" 'next: edit it, then run: runbook check' "$name: hints at the next step"
	like "$out" '__TABLE__ ' "$name: lists the placeholders left to fill"
	ok "grep -qx '# Plain $name' '$f'" "$name: the title is filled in"
	ok "grep -qx '\*\*Date:\*\* $TODAY' '$f'" "$name: the date is today's"
	ok "grep -q '__TABLE__' '$f'" "$name: unfilled placeholders are marked __TABLE__"
	ok "! grep -q '{{[A-Z_]*}}' '$f'" "$name: no {{NAME}} is left"
	ok "! grep -q 'template-description' '$f'" "$name: the template's header is dropped"
	run_rb check "$f"
	is "$rc" 0 "$name: check exits 0 without --set"
	is "$out" "" "$name: check reports nothing without --set"
	like "$err" '1 file checked: 0 errors, 0 warnings' "$name: 0 errors, 0 warnings"
done

# the templates as shipped pass check too
run_rb check "$TOP"/templates/*.md
is "$rc" 0 "the raw templates pass check"
like "$err" '8 files checked: 0 errors' "the raw templates have no errors"

# --- every template, filled with --set: check passes, and it runs
for name in $TEMPLATES; do
	set_args "$name"
	mkdir -p "$TMP/run-$name"
	new_in "$TMP/run-$name" "Filled $name" --template "$name" "${SET_ARGS[@]}"
	f=$TMP/run-$name/filled-$name.md
	is "$rc" 0 "$name: new with --set exits 0"
	ok "[ -f '$f' ]" "$name: the default file name is the title's slug"
	unlike "$out" 'placeholders left' "$name: nothing left to fill"
	ok "! grep -q '__[A-Z_]*__' '$f'" "$name: no marker is left"
	run_rb check "$f"
	is "$rc" 0 "$name: check exits 0 with --set"
	like "$err" '1 file checked: 0 errors, 0 warnings' "$name: filled, 0 errors, 0 warnings"

	(cd "$TMP/run-$name" && "$RUNBOOK" run --yes --var APP_SWITCHED=yes --sandbox="$T/$name.sql" "$f") \
		>"$TMP/run.out" 2>&1
	rrc=$?
	is "$rrc" 0 "$name: runs green on a sandbox seeded with $name.sql"
	like "$(cat "$TMP/run.out")" 'Result: completed' "$name: every step passed"
	[ "$rrc" = 0 ] || diag "$(grep -B3 -A14 '✗' "$TMP/run.out" | head -60)"

	rehearsal "$f" >"$TMP/run-$name/rehearse.md"
	(cd "$TMP/run-$name" && "$RUNBOOK" run --yes --var APP_SWITCHED=yes --sandbox="$T/$name.sql" \
		rehearse.md) >"$TMP/rehearse.out" 2>&1
	rrc=$?
	is "$rrc" 0 "$name: forward, rollback, forward again runs green"
	like "$(cat "$TMP/rehearse.out")" 'Roll Back +passed' "$name: the rollback procedure ran"
	[ "$rrc" = 0 ] || diag "$(grep -B3 -A14 '✗' "$TMP/rehearse.out" | head -60)"
	if [ "$name" = batched-backfill ]; then
		# 10 of the 5000 rows were filled by the application: the rollback
		# puts NULL back into the other 4990 only
		is "$(grep -c '│ SELECT 4990$' "$TMP/rehearse.out")" 2 \
			"batched-backfill: the rollback restores exactly the rows it filled"
	fi
done

# --- the default template is the manual guide; the slug of the title
mkdir -p "$TMP/slug"
new_in "$TMP/slug" 'Add `last_login_at` to Users!'
is "$rc" 0 "new TITLE exits 0"
ok "[ -f '$TMP/slug/add-last-login-at-to-users.md' ]" "the file is named after the title"
ok "grep -q 'Manual Execution Guide\|## Step 1: Create Backup' '$TMP/slug/add-last-login-at-to-users.md'" \
	"the default template is manual-guide"
ok "grep -qx '# Add \`last_login_at\` to Users!' '$TMP/slug/add-last-login-at-to-users.md'" \
	"the title is kept as written"

# --- never overwrite without --force
before=$(cksum <"$TMP/slug/add-last-login-at-to-users.md")
new_in "$TMP/slug" 'Add `last_login_at` to Users!' --template add-nullable-column
is "$rc" 1 "an existing file: exit 1"
like "$err" 'add-last-login-at-to-users.md already exists; use --force' "an existing file: says so"
is "$(cksum <"$TMP/slug/add-last-login-at-to-users.md")" "$before" "an existing file is left as it was"
ln -s "$TMP/slug/add-last-login-at-to-users.md" "$TMP/slug/link.md"
new_in "$TMP/slug" 'Link' -o link.md --force
is "$rc" 1 "--force does not write through a symbolic link"
like "$err" 'symbolic link' "and says why"
new_in "$TMP/slug" 'Add `last_login_at` to Users!' --template add-nullable-column --force
is "$rc" 0 "--force overwrites"
ok "grep -q 'Step 2: Add the Column' '$TMP/slug/add-last-login-at-to-users.md'" "--force wrote the new template"

# --- -o: a file, a directory, standard output
mkdir -p "$TMP/o/sub"
new_in "$TMP/o" "Out" -o sub/mine.md
is "$rc" 0 "-o FILE exits 0"
ok "[ -f '$TMP/o/sub/mine.md' ]" "-o FILE writes FILE"
like "$out" 'wrote sub/mine.md' "-o FILE names it"
new_in "$TMP/o" "To a Directory" -o sub
ok "[ -f '$TMP/o/sub/to-a-directory.md' ]" "-o DIR writes the title's slug in DIR"
new_in "$TMP/o" "Stdout" -o - --template add-nullable-column --set TABLE=t1
is "$rc" 0 "-o - exits 0"
like "$out" '^# Stdout' "-o - writes the runbook to standard output"
like "$err" 'placeholders left' "-o - keeps its messages on stderr"
ok "[ ! -e '$TMP/o/stdout.md' ] && [ ! -e '$TMP/o/-' ]" "-o - writes no file"
new_in "$TMP/o" "Nowhere" -o no/such/dir/x.md
is "$rc" 1 "an unwritable path: exit 1"
like "$err" 'cannot create no/such/dir/x.md' "an unwritable path: says so"

# --- usage errors: exit 2, nothing written
mkdir -p "$TMP/bad"
new_in "$TMP/bad" "X" --template no-such-template
is "$rc" 2 "unknown template: exit 2"
like "$err" "no template 'no-such-template'" "unknown template: named"
like "$err" 'add-column-with-default, add-index-concurrently, .*rename-column' "unknown template: the names are listed"
new_in "$TMP/o" "Suffix" -o - --template add-nullable-column.md
is "$rc" 0 "--template NAME.md names the template NAME"
new_in "$TMP/bad" "X" --template ../templates/manual-guide
is "$rc" 2 "a template name with a path that does not exist: exit 2"
for bad in "TABLE" "table=users" "1TABLE=users" "=users" "NOPE=x" "TITLE=x" \
	"TABLE=Users" "TABLE=users;drop" "TABLE=" "TYPE=int;" "DATE=31/12/2025"; do
	new_in "$TMP/bad" "X" --template add-nullable-column --set "$bad"
	is "$rc" 2 "--set $bad: exit 2"
done
new_in "$TMP/bad" "X" --template add-nullable-column --set NOPE=x
like "$err" 'template add-nullable-column has no placeholder NOPE; it has: TITLE, DATE, TABLE, COLUMN, TYPE' \
	"--set of an unknown placeholder lists the known ones"
new_in "$TMP/bad" "X" --template add-nullable-column --set TABLE=Users
like "$err" 'TABLE: "Users" is not a lower-case SQL identifier' "--set says why a value is refused"
for bad in "BATCH_SIZE=0" "BATCH_SIZE=ten" "VALUE=1; DROP TABLE x" "VALUE=x -- y" "VALUE=lower(email" \
	"VALUE='open" 'VALUE=$$' 'VALUE={{X:.*}}' 'VALUE=a|b' 'VALUE=`x`'; do
	new_in "$TMP/bad" "X" --template batched-backfill --set "$bad"
	is "$rc" 2 "--set $bad: exit 2"
done
new_in "$TMP/bad" ""
is "$rc" 2 "an empty title: exit 2"
new_in "$TMP/bad" $'two\nlines'
is "$rc" 2 "a title with a line break: exit 2"
new_in "$TMP/bad"
is "$rc" 2 "no title: exit 2"
new_in "$TMP/bad" a b
is "$rc" 2 "two titles: exit 2"
new_in "$TMP/bad" --list extra
is "$rc" 2 "--list with a title: exit 2"
new_in "$TMP/bad" X --frobnicate
is "$rc" 2 "unknown option: exit 2"
is "$(ls -A "$TMP/bad")" "" "no usage error writes a file"

# --set DATE and a value with blanks; the last --set wins
new_in "$TMP/o" "Dated" -o - --template add-nullable-column --set DATE=2030-01-02 \
	--set TYPE="timestamp with time zone" --set TABLE=a --set TABLE=b
is "$rc" 0 "--set DATE and a type with blanks are accepted"
like "$out" '\*\*Date:\*\* 2030-01-02' "--set DATE replaces today"
like "$out" 'ADD COLUMN IF NOT EXISTS __COLUMN__ timestamp with time zone;' "--set values go in as written"
like "$out" 'ALTER TABLE b ADD COLUMN' "the last --set of a name wins"

# defaults from the header fill placeholders not given
new_in "$TMP/o" "Defaults" -o - --template batched-backfill
like "$out" 'batch_rows +constant int +:= 10000;' "a placeholder's default fills it when not set"
like "$out" 'tgt\.id = rec\.id' "KEY defaults to id"

# --- where templates come from
mkdir -p "$TMP/tpl"
cat >"$TMP/tpl/tiny.md" <<'MD'
<!--
template-description: A tiny template for the tests
placeholder: WORD  text  a word to echo
-->
# {{TITLE}}

**Date:** {{DATE}}

## Step 1: Echo

```bash
echo "{{WORD}}"
```

Expected output:
```
{{WORD}}
```

## Rollback Procedure

```bash
true
```
MD
RUNBOOK_TEMPLATES=$TMP/tpl run_rb new --list
is "$out" "tiny  A tiny template for the tests" "RUNBOOK_TEMPLATES chooses the templates directory"
RUNBOOK_TEMPLATES=$TMP/tpl run_rb new "Tiny" --template tiny --set WORD=hello -o -
like "$out" 'echo "hello"' "a template from RUNBOOK_TEMPLATES is filled"
RUNBOOK_TEMPLATES=$TMP/tpl run_rb new "Tiny" -o -
is "$rc" 2 "the default template missing from RUNBOOK_TEMPLATES: exit 2"
RUNBOOK_TEMPLATES=$TMP/no-such-dir run_rb new --list
is "$rc" 4 "RUNBOOK_TEMPLATES that is not a directory: exit 4"
like "$err" 'RUNBOOK_TEMPLATES=.*no-such-dir is not a directory' "and says so"
run_rb new "Tiny" --template "$TMP/tpl/tiny.md" --set WORD=path -o -
is "$rc" 0 "--template PATH reads that file"
like "$out" 'echo "path"' "--template PATH is filled"
printf '<!--\ntemplate-description: broken\nplaceholder: lower text x\n-->\n# {{TITLE}}\n' >"$TMP/tpl/broken.md"
run_rb new "B" --template "$TMP/tpl/broken.md" -o -
is "$rc" 3 "a template with a malformed header: exit 3"
like "$err" 'broken.md:3: a placeholder name is capitals' "the header error names the line"
RUNBOOK_TEMPLATES=$TMP/tpl run_rb new --list
like "$out" 'broken +\(unreadable: ' "--list shows a broken template as unreadable"

# the binary finds templates/ of its source tree wherever it is run from
(cd / && "$RUNBOOK" new --list) >"$TMP/out" 2>&1
like "$(cat "$TMP/out")" '^add-column-with-default ' "templates are found from any directory"

done_testing
