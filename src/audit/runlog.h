/* runlog.h - the journal: an append-only, hash-chained JSON Lines file.
 *
 * Every `run`, `rollback` and `rehearse` writes one.  Each line is one JSON
 * object whose first keys are always
 *
 *     "v":1, "seq":N, "ts":"2026-11-21T13:45:01.123Z", "type":"...", "prev":"<hex>"
 *
 * where prev is the SHA-256 (hex) of the previous line's bytes as written,
 * without its newline (64 zeros on the first line).  A verifier hashes the
 * bytes it reads and never re-serialises.  docs/log-format.md describes
 * every record.
 *
 * Writing: build a record with runlog_rec() and the jrec_* functions, then
 * runlog_emit() it: the line goes out in one write() followed by
 * fdatasync(), so when runlog_emit() returns 0 the line is on disk.  With
 * defer_sync set, runlog_emit() only writes, and runlog_sync() makes every
 * line written so far durable with one fdatasync(): the caller syncs before
 * each command runs, so a block costs one fdatasync() however many lines
 * surround it.  When either returns -1 (disk full, file size limit, I/O
 * error) nothing of a partly written line stays in the file, the log
 * refuses further lines, and the caller must stop before running anything
 * else.  Every string put into a record passes
 * through the log's redactor first; a record in which something was masked
 * gets a "redacted" object with the count per rule, never the secret.
 *
 * Signing: runlog_checkpoint() appends a "sig" line holding an SSHSIG
 * signature (namespace "runbook-log") over the file's bytes so far;
 * runlog_finish() writes LOG.sig over the whole file, the file that
 * `ssh-keygen -Y verify` checks.
 *
 * Resuming: runlog_open_resume() reopens an existing log, checks its chain,
 * drops an incomplete last line (a crash mid-write), and carries on with
 * the next seq and prev.
 *
 * The file is created mode 0600 with O_EXCL and O_NOFOLLOW (a symlink at the
 * path is refused); its directory, when created, is 0700.
 */
#ifndef RUNBOOK_RUNLOG_H
#define RUNBOOK_RUNLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/redact.h"
#include "sign/sign.h"
#include "base/strbuf.h"

#define RUNLOG_VERSION 1
#define RUNLOG_NAMESPACE "runbook-log"

struct runlog {
	int fd;               /* -1 when closed */
	char *path;
	uint64_t seq;         /* seq of the next line */
	char prev[SHA256_HEX_LEN + 1];
	uint64_t bytes;       /* file size = offset of the next line */
	struct sha512 whole;  /* over every byte written so far */
	struct redactor *red; /* not owned */
	bool failed;          /* a write failed: the log takes no more lines */
	bool defer_sync;      /* emit only writes; runlog_sync() syncs (default false) */
	bool dirty;           /* lines written since the last fdatasync */
	bool hash_whole;      /* keep `whole`, which signing needs (default true);
			       * clear it before the first line of a log that
			       * will not be signed */
};

/* runlog_default_path returns ".runbook/logs/<name>-<UTC timestamp>.jsonl"
 * (malloc'd) for a runbook path. */
char *runlog_default_path(const char *runbook_path);

/* runlog_open_new creates path (and its directory when it is missing).
 * Returns 0, or -1 with "journal: PATH: ..." in err. */
int runlog_open_new(struct runlog *log, const char *path, struct redactor *red, struct strbuf *err);

struct runlog_tail {
	uint64_t lines;          /* complete lines found */
	uint64_t dropped_bytes;  /* an incomplete last line that was cut off */
	char dropped_sha256[SHA256_HEX_LEN + 1];
};

/* runlog_open_resume reopens an existing log for appending after checking
 * its hash chain; an incomplete last line is cut off (and described in
 * tail).  Returns 0, or -1 with the reason in err (a broken chain, a
 * symlink, ...). */
int runlog_open_resume(struct runlog *log, const char *path, struct redactor *red,
		       struct runlog_tail *tail, struct strbuf *err);

/* A record being built.  Keys are added in order; jrec_open()/jrec_open_array()
 * nest, jrec_close() returns to the parent.  Inside an array, key is NULL. */
struct jrec;
struct jrec *runlog_rec(struct runlog *log, const char *type);
void jrec_str(struct jrec *rec, const char *key, const char *value);   /* NULL -> null */
void jrec_strn(struct jrec *rec, const char *key, const char *value, size_t len);
/* jrec_raw_str is jrec_str without redaction, for hashes and fixed words. */
void jrec_raw_str(struct jrec *rec, const char *key, const char *value);
void jrec_int(struct jrec *rec, const char *key, int64_t value);
void jrec_bool(struct jrec *rec, const char *key, bool value);
void jrec_null(struct jrec *rec, const char *key);
void jrec_open(struct jrec *rec, const char *key);
void jrec_open_array(struct jrec *rec, const char *key);
void jrec_close(struct jrec *rec);
/* jrec_free discards a record that will not be emitted. */
void jrec_free(struct jrec *rec);

/* runlog_emit writes the record (and frees it).  Returns 0, or -1 with err
 * filled; see above. */
int runlog_emit(struct runlog *log, struct jrec *rec, struct strbuf *err);

/* runlog_sync makes every line written so far durable (one fdatasync,
 * none when nothing was written since the last).  Returns 0, or -1 with err
 * filled; the log then takes no more lines. */
int runlog_sync(struct runlog *log, struct strbuf *err);

/* runlog_checkpoint appends a "sig" line signing bytes [0, B) of the file,
 * B being the file size before the line. */
struct sign_key;
int runlog_checkpoint(struct runlog *log, struct sign_key *key, const char *after, struct strbuf *err);

/* runlog_finish closes the file; with a key, writes PATH.sig (SSHSIG over the
 * whole file, mode 0644) first.  Returns 0 or -1 with err. */
int runlog_finish(struct runlog *log, struct sign_key *key, struct strbuf *err);

/* runlog_close closes without signing (error paths); safe to call twice. */
void runlog_close(struct runlog *log);

/* runlog_iso_time formats ms since the epoch as "2026-11-21T13:45:01.123Z". */
void runlog_iso_time(int64_t ms, char out[40]);

#endif
