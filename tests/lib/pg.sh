# pg.sh - start and stop a throwaway PostgreSQL for the tests.
#
#   pg_start     initdb + pg_ctl in a temp dir, Unix socket only, random
#                port, fsync off; as the `postgres` user (or nobody) when
#                run as root.  Exports PGHOST PGPORT PGUSER PGDATABASE and
#                DATABASE_URL, and PG_BINDIR, PG_DATA, PG_RUNAS.
#   pg_stop      stops it and removes the directory (safe to call twice)
#   pg_run CMD   runs a server binary (pg_ctl, ...) as the server's owner
#
# Server binaries are found through `pg_config --bindir`, then PATH, then
# /usr/lib/postgresql/*/bin (newest first).

pg_find_bindir() {
	local d
	d=$(pg_config --bindir 2>/dev/null)
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
	d=$(command -v initdb 2>/dev/null)
	if [ -n "$d" ]; then d=$(dirname "$(readlink -f "$d")"); [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }; fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	return 1
}

pg_run() {
	if [ -n "${PG_RUNAS:-}" ]; then
		runuser -u "$PG_RUNAS" -- "$@"
	else
		"$@"
	fi
}

pg_start() {
	PG_BINDIR=$(pg_find_bindir) || { echo "pg.sh: no PostgreSQL server binaries found (install postgresql)" >&2; return 1; }
	PG_TMP=$(mktemp -d /tmp/runbook-pg.XXXXXX)
	PG_RUNAS=
	if [ "$(id -u)" = 0 ]; then
		if id postgres >/dev/null 2>&1; then PG_RUNAS=postgres; else PG_RUNAS=nobody; fi
		chown "$PG_RUNAS" "$PG_TMP"
	fi
	chmod 755 "$PG_TMP"
	PG_DATA=$PG_TMP/data
	PGPORT=$((20000 + RANDOM % 30000))
	if ! pg_run "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres --auth=trust --no-sync -E UTF8 \
		--locale=C >"$PG_TMP/initdb.log" 2>&1; then
		echo "pg.sh: initdb failed:" >&2; cat "$PG_TMP/initdb.log" >&2; return 1
	fi
	if ! pg_run "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$PG_TMP' -p $PGPORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60" \
		start >"$PG_TMP/pg_ctl.log" 2>&1; then
		echo "pg.sh: server did not start:" >&2; cat "$PG_TMP/server.log" >&2; return 1
	fi
	export PGHOST=$PG_TMP PGPORT PGUSER=postgres PGDATABASE=postgres
	export DATABASE_URL="postgresql:///postgres?host=$PG_TMP&port=$PGPORT&user=postgres"
	export PG_BINDIR PG_DATA PG_RUNAS PG_TMP
}

pg_stop() {
	[ -n "${PG_TMP:-}" ] || return 0
	if [ -f "$PG_DATA/postmaster.pid" ]; then
		pg_run "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$PG_TMP"
	PG_TMP=
}
