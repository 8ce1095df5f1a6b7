/* runlog.c - the hash-chained JSON Lines journal (jansson reads it back). */
#define _GNU_SOURCE
#include "audit/runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/mdparse.h"
#include "base/xalloc.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

void runlog_iso_time(int64_t ms, char out[40])
{
	/* every record has one or three: the seconds are formatted once per
	 * second, the milliseconds by hand */
	static int64_t cached_s = INT64_MIN;
	static char cached[40];
	time_t s = (time_t)(ms / 1000);
	if (ms < 0) {
		struct tm tm;
		gmtime_r(&s, &tm);
		snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
			 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
			 tm.tm_sec % 100, (int)(ms % 1000));
		return;
	}
	if ((int64_t)s != cached_s) {
		struct tm tm;
		gmtime_r(&s, &tm);
		snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", (tm.tm_year + 1900) % 10000,
			 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
			 tm.tm_sec % 100);
		cached_s = (int64_t)s;
	}
	int m = (int)(ms % 1000);
	memcpy(out, cached, 19);
	out[19] = '.';
	out[20] = (char)('0' + m / 100);
	out[21] = (char)('0' + m / 10 % 10);
	out[22] = (char)('0' + m % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

static int64_t now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *runlog_default_path(const char *runbook_path)
{
	const char *base = strrchr(runbook_path, '/');
	char *name = xstrdup(base ? base + 1 : runbook_path);
	size_t len = strlen(name);
	if (len > 3 && !strcmp(name + len - 3, ".md"))
		name[len - 3] = '\0';
	time_t s = time(NULL);
	struct tm tm;
	gmtime_r(&s, &tm);
	char *path = xasprintf(".runbook/logs/%s-%04d%02d%02dT%02d%02d%02dZ.jsonl", name,
			       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			       tm.tm_sec);
	free(name);
	return path;
}

static int make_dirs(const char *path, struct strbuf *err)
{
	char *dir = xstrdup(path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			strbuf_addf(err, "journal: cannot create %s: %s", dir, strerror(errno));
			free(dir);
			return -1;
		}
		*p = '/';
	}
	free(dir);
	return 0;
}

static void init_log(struct runlog *log, const char *path, struct redactor *red)
{
	memset(log, 0, sizeof(*log));
	log->fd = -1;
	log->path = xstrdup(path);
	log->red = red;
	log->hash_whole = true;
	strcpy(log->prev, ZERO_HASH);
	sha512_init(&log->whole);
}

int runlog_open_new(struct runlog *log, const char *path, struct redactor *red, struct strbuf *err)
{
	init_log(log, path, red);
	if (make_dirs(path, err) < 0) {
		runlog_close(log);
		return -1;
	}
	log->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (log->fd < 0) {
		if (errno == EEXIST) {
			struct stat st;
			if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
				strbuf_addf(err, "journal: %s is a symbolic link; refusing to write through it", path);
			else
				strbuf_addf(err, "journal: %s already exists; a journal is never overwritten", path);
		} else {
			strbuf_addf(err, "journal: cannot create %s: %s", path, strerror(errno));
		}
		runlog_close(log);
		return -1;
	}
	fchmod(log->fd, 0600);
	return 0;
}

/* line_prev extracts "seq" and "prev" from a line without trusting it. */
static int line_fields(const char *line, size_t len, int64_t *seq, char prev[SHA256_HEX_LEN + 1])
{
	json_error_t je;
	json_t *o = json_loadb(line, len, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
	int ret = -1;
	if (!o || !json_is_object(o))
		goto out;
	json_t *s = json_object_get(o, "seq"), *p = json_object_get(o, "prev");
	if (!json_is_integer(s) || !json_is_string(p) || strlen(json_string_value(p)) != SHA256_HEX_LEN)
		goto out;
	*seq = json_integer_value(s);
	strcpy(prev, json_string_value(p));
	ret = 0;
out:
	json_decref(o);
	return ret;
}

int runlog_open_resume(struct runlog *log, const char *path, struct redactor *red,
		       struct runlog_tail *tail, struct strbuf *err)
{
	struct strbuf data = STRBUF_INIT;
	int64_t expect_seq = 0;
	size_t pos = 0;
	int ret = -1;

	init_log(log, path, red);
	memset(tail, 0, sizeof(*tail));
	log->fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (log->fd < 0) {
		strbuf_addf(err, "journal: cannot open %s: %s", path,
			    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		goto out;
	}
	if (strbuf_read_fd(&data, log->fd) < 0) {
		strbuf_addf(err, "journal: cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while (pos < data.len) {
		char *nl = memchr(data.buf + pos, '\n', data.len - pos);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (data.buf + pos));
		int64_t seq;
		char prev[SHA256_HEX_LEN + 1];
		if (line_fields(data.buf + pos, len, &seq, prev) < 0) {
			strbuf_addf(err, "journal: %s: line %llu is not a journal record", path,
				    (unsigned long long)tail->lines + 1);
			goto out;
		}
		if (seq != expect_seq || strcmp(prev, log->prev)) {
			strbuf_addf(err, "journal: %s: the hash chain is broken at line %llu; it cannot be resumed",
				    path, (unsigned long long)tail->lines + 1);
			goto out;
		}
		sha256_hex(data.buf + pos, len, log->prev);
		sha512_update(&log->whole, data.buf + pos, len + 1);
		expect_seq++;
		tail->lines++;
		pos += len + 1;
	}
	if (pos < data.len) {
		/* a line cut short by a crash: it was never recorded whole */
		tail->dropped_bytes = data.len - pos;
		sha256_hex(data.buf + pos, data.len - pos, tail->dropped_sha256);
		if (ftruncate(log->fd, (off_t)pos) < 0) {
			strbuf_addf(err, "journal: cannot cut the incomplete last line of %s: %s", path,
				    strerror(errno));
			goto out;
		}
		fdatasync(log->fd);
	}
	log->seq = (uint64_t)expect_seq;
	log->bytes = pos;
	ret = 0;
out:
	if (ret < 0)
		runlog_close(log);
	strbuf_release(&data);
	return ret;
}

/* ---------- records ---------- */

/*
 * Records are serialised as they are built, straight into one buffer, in
 * exactly the bytes jansson's json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER)
 * gives for the same object (tests/unit/test_runlog.c checks this by
 * loading every line with jansson and dumping it again).  Building a jansson
 * tree and dumping it cost more than everything else a trivial step does in
 * this process (callgrind: json_dumps 27% and the tree ~15% of the
 * executor's instructions).  Keys must be unique within an object (jansson
 * would replace the earlier value; no record repeats a key).
 */

#define JREC_DEPTH 8

struct jrec {
	struct runlog *log;
	struct strbuf buf;
	char close[JREC_DEPTH]; /* '}' or ']' for each open container */
	bool empty[JREC_DEPTH]; /* nothing in it yet */
	int depth;
	size_t counts[REDACT_NRULES]; /* masks applied while building */
};

/* add_escaped appends valid UTF-8 as the inside of a JSON string, escaped
 * as jansson escapes it. */
static void add_escaped(struct strbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		strbuf_add(sb, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': strbuf_add(sb, "\\\"", 2); break;
		case '\\': strbuf_add(sb, "\\\\", 2); break;
		case '\b': strbuf_add(sb, "\\b", 2); break;
		case '\f': strbuf_add(sb, "\\f", 2); break;
		case '\n': strbuf_add(sb, "\\n", 2); break;
		case '\r': strbuf_add(sb, "\\r", 2); break;
		case '\t': strbuf_add(sb, "\\t", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			strbuf_add(sb, u, 6);
		}
		}
	}
	strbuf_add(sb, s + run, len - run);
}

/* add_string appends any bytes as a JSON string: invalid UTF-8 bytes
 * become the text "\xNN" (four characters). */
static void add_string(struct strbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	strbuf_addch(sb, '"');
	while (i < len) {
		size_t bad = utf8_check(s + i, len - i);
		size_t good = bad ? bad - 1 : len - i;
		add_escaped(sb, s + i, good);
		i += good;
		if (bad) {
			unsigned char c = (unsigned char)s[i];
			char x[5] = { '\\', '\\', 'x', hex[c >> 4], hex[c & 15] };
			strbuf_add(sb, x, 5);
			i++;
		}
	}
	strbuf_addch(sb, '"');
}

static void add_int(struct strbuf *sb, int64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	strbuf_add(sb, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* key starts a member of the innermost container: the comma, and the key
 * when that container is an object. */
static void key(struct jrec *r, const char *k)
{
	if (!r->empty[r->depth])
		strbuf_addch(&r->buf, ',');
	r->empty[r->depth] = false;
	if (r->close[r->depth] == '}') {
		k = k ? k : "";
		add_string(&r->buf, k, strlen(k));
		strbuf_addch(&r->buf, ':');
	}
}

struct jrec *runlog_rec(struct runlog *log, const char *type)
{
	struct jrec *r = xcalloc(1, sizeof(*r));
	char ts[40];
	r->log = log;
	strbuf_init(&r->buf, 512);
	r->close[0] = '}';
	runlog_iso_time(now_wall_ms(), ts);
	strbuf_addstr(&r->buf, "{\"v\":");
	add_int(&r->buf, RUNLOG_VERSION);
	strbuf_addstr(&r->buf, ",\"seq\":");
	add_int(&r->buf, (int64_t)log->seq);
	strbuf_addstr(&r->buf, ",\"ts\":");
	add_string(&r->buf, ts, strlen(ts));
	strbuf_addstr(&r->buf, ",\"type\":");
	add_string(&r->buf, type, strlen(type));
	strbuf_addstr(&r->buf, ",\"prev\":");
	add_string(&r->buf, log->prev, strlen(log->prev));
	return r;
}

void jrec_strn(struct jrec *r, const char *k, const char *value, size_t len)
{
	key(r, k);
	if (!value) {
		strbuf_add(&r->buf, "null", 4);
		return;
	}
	if (r->log->red) {
		struct strbuf masked = STRBUF_INIT;
		size_t before[REDACT_NRULES];
		memcpy(before, r->log->red->counts, sizeof(before));
		redact(r->log->red, value, len, &masked);
		for (int i = 0; i < REDACT_NRULES; i++)
			r->counts[i] += r->log->red->counts[i] - before[i];
		add_string(&r->buf, masked.buf, masked.len);
		strbuf_release(&masked);
	} else {
		add_string(&r->buf, value, len);
	}
}

void jrec_str(struct jrec *r, const char *key, const char *value)
{
	jrec_strn(r, key, value, value ? strlen(value) : 0);
}

void jrec_raw_str(struct jrec *r, const char *k, const char *value)
{
	key(r, k);
	if (!value)
		strbuf_add(&r->buf, "null", 4);
	else
		add_string(&r->buf, value, strlen(value));
}

void jrec_int(struct jrec *r, const char *k, int64_t value)
{
	key(r, k);
	add_int(&r->buf, value);
}

void jrec_bool(struct jrec *r, const char *k, bool value)
{
	key(r, k);
	strbuf_addstr(&r->buf, value ? "true" : "false");
}

void jrec_null(struct jrec *r, const char *k)
{
	key(r, k);
	strbuf_add(&r->buf, "null", 4);
}

/* open_container starts a nested object or array; past JREC_DEPTH it is
 * left out and its members go to the enclosing container. */
static void open_container(struct jrec *r, const char *k, char open, char close)
{
	if (r->depth + 1 >= JREC_DEPTH)
		return;
	key(r, k);
	strbuf_addch(&r->buf, open);
	r->depth++;
	r->close[r->depth] = close;
	r->empty[r->depth] = true;
}

void jrec_open(struct jrec *r, const char *key)
{
	open_container(r, key, '{', '}');
}

void jrec_open_array(struct jrec *r, const char *key)
{
	open_container(r, key, '[', ']');
}

void jrec_close(struct jrec *r)
{
	if (r->depth > 0) {
		strbuf_addch(&r->buf, r->close[r->depth]);
		r->depth--;
	}
}

void jrec_free(struct jrec *r)
{
	if (!r)
		return;
	strbuf_release(&r->buf);
	free(r);
}

static int write_line(struct runlog *log, const char *buf, size_t len, struct strbuf *err)
{
	size_t done = 0;
	int e = 0;

	/* one write() normally; a short write is retried only to learn why
	 * the rest cannot go (disk full, file size limit) */
	while (done < len) {
		ssize_t n = write(log->fd, buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			break;
		}
		if (n == 0) {
			e = ENOSPC;
			break;
		}
		done += (size_t)n;
	}
	if (done != len) {
		/* never leave half a line behind */
		if (done && ftruncate(log->fd, (off_t)log->bytes) < 0)
			e = errno;
		strbuf_addf(err, "journal: cannot write %s: %s", log->path, strerror(e));
		log->failed = true;
		return -1;
	}
	log->dirty = true;
	if (!log->defer_sync)
		return runlog_sync(log, err);
	return 0;
}

int runlog_sync(struct runlog *log, struct strbuf *err)
{
	if (log->fd < 0 || log->failed) {
		strbuf_addf(err, "journal: %s cannot take more records", log->path ? log->path : "the journal");
		return -1;
	}
	if (!log->dirty)
		return 0;
	if (fdatasync(log->fd) < 0 && errno != EINVAL) {
		strbuf_addf(err, "journal: cannot sync %s: %s", log->path, strerror(errno));
		log->failed = true;
		return -1;
	}
	log->dirty = false;
	return 0;
}

int runlog_emit(struct runlog *log, struct jrec *r, struct strbuf *err)
{
	int ret = -1;

	if (log->fd < 0 || log->failed) {
		strbuf_addf(err, "journal: %s cannot take more records", log->path);
		goto out;
	}
	while (r->depth > 0)
		jrec_close(r);
	bool any = false;
	for (int k = 0; k < REDACT_NRULES; k++)
		any |= r->counts[k] > 0;
	if (any) {
		jrec_open(r, "redacted");
		for (int k = 0; k < REDACT_NRULES; k++)
			if (r->counts[k])
				jrec_int(r, redact_rule_name((enum redact_rule)k), (int64_t)r->counts[k]);
		jrec_close(r);
	}
	strbuf_addch(&r->buf, '}');
	size_t len = r->buf.len;
	strbuf_addch(&r->buf, '\n');
	if (write_line(log, r->buf.buf, len + 1, err) == 0) {
		sha256_hex(r->buf.buf, len, log->prev);
		if (log->hash_whole)
			sha512_update(&log->whole, r->buf.buf, len + 1);
		log->bytes += len + 1;
		log->seq++;
		ret = 0;
	}
out:
	jrec_free(r);
	return ret;
}

int runlog_checkpoint(struct runlog *log, struct sign_key *key, const char *after, struct strbuf *err)
{
	struct sha512 copy = log->whole;
	unsigned char digest[SHA512_LEN];
	struct strbuf armored = STRBUF_INIT;
	int ret = -1;

	if (!log->hash_whole) {
		strbuf_addf(err, "journal: %s was not opened for signing", log->path);
		return -1;
	}
	sha512_final(&copy, digest);
	if (sign_digest(key, RUNLOG_NAMESPACE, digest, &armored, err) < 0)
		goto out;
	struct jrec *r = runlog_rec(log, "sig");
	jrec_open(r, "covers");
	jrec_int(r, "bytes", (int64_t)log->bytes);
	jrec_int(r, "lines", (int64_t)log->seq);
	jrec_close(r);
	jrec_raw_str(r, "after", after);
	jrec_raw_str(r, "namespace", RUNLOG_NAMESPACE);
	jrec_raw_str(r, "key", sign_key_fingerprint(key));
	jrec_raw_str(r, "signature", armored.buf);
	ret = runlog_emit(log, r, err);
out:
	strbuf_release(&armored);
	return ret;
}

int runlog_finish(struct runlog *log, struct sign_key *key, struct strbuf *err)
{
	int ret = 0;
	/* the journal is durable before the signature over it is */
	if (key && log->fd >= 0 && !log->failed && runlog_sync(log, err) < 0) {
		ret = -1;
	} else if (key && log->fd >= 0 && !log->failed && !log->hash_whole) {
		strbuf_addf(err, "journal: %s was not opened for signing", log->path);
		ret = -1;
	} else if (key && log->fd >= 0 && !log->failed) {
		struct sha512 copy = log->whole;
		unsigned char digest[SHA512_LEN];
		struct strbuf armored = STRBUF_INIT;
		sha512_final(&copy, digest);
		if (sign_digest(key, RUNLOG_NAMESPACE, digest, &armored, err) < 0) {
			ret = -1;
		} else {
			char *sig = xasprintf("%s.sig", log->path);
			char *tmp = xasprintf("%s.sig.tmp", log->path);
			int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd < 0 || write(fd, armored.buf, armored.len) != (ssize_t)armored.len ||
			    fsync(fd) < 0 || close(fd) < 0 || rename(tmp, sig) < 0) {
				strbuf_addf(err, "journal: cannot write %s: %s", sig, strerror(errno));
				if (fd >= 0)
					close(fd);
				unlink(tmp);
				ret = -1;
			}
			free(sig);
			free(tmp);
		}
		strbuf_release(&armored);
	}
	runlog_close(log);
	return ret;
}

void runlog_close(struct runlog *log)
{
	if (log->fd >= 0) {
		if (log->dirty)
			fdatasync(log->fd);
		close(log->fd);
	}
	log->fd = -1;
	free(log->path);
	log->path = NULL;
}
