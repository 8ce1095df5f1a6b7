/* runlog.c - the hash-chained JSON Lines journal, with jansson. */
#define _GNU_SOURCE
#include "runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mdparse.h"
#include "xalloc.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

void runlog_iso_time(int64_t ms, char out[40])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (int)(ms % 1000));
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
	log->fsync = true;
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
	json_t *o = json_loadb(line, len, JSON_DISABLE_EOF_CHECK, &je);
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

#define JREC_DEPTH 8

struct jrec {
	struct runlog *log;
	json_t *root;
	json_t *stack[JREC_DEPTH];
	int depth;
	size_t counts[REDACT_NRULES]; /* masks applied while building */
};

struct jrec *runlog_rec(struct runlog *log, const char *type)
{
	struct jrec *r = xcalloc(1, sizeof(*r));
	char ts[40];
	r->log = log;
	r->root = json_object();
	runlog_iso_time(now_wall_ms(), ts);
	json_object_set_new(r->root, "v", json_integer(RUNLOG_VERSION));
	json_object_set_new(r->root, "seq", json_integer((json_int_t)log->seq));
	json_object_set_new(r->root, "ts", json_string(ts));
	json_object_set_new(r->root, "type", json_string(type));
	json_object_set_new(r->root, "prev", json_string(log->prev));
	r->stack[0] = r->root;
	return r;
}

static void put(struct jrec *r, const char *key, json_t *v)
{
	json_t *top = r->stack[r->depth];
	if (!v)
		v = json_null();
	if (json_is_array(top))
		json_array_append_new(top, v);
	else
		json_object_set_new(top, key ? key : "", v);
}

/* sanitize makes any bytes valid UTF-8: invalid bytes become "\xNN". */
static void sanitize(const char *s, size_t len, struct strbuf *out)
{
	size_t i = 0;
	while (i < len) {
		size_t bad = utf8_check(s + i, len - i);
		size_t good = bad ? bad - 1 : len - i;
		strbuf_add(out, s + i, good);
		i += good;
		if (bad) {
			strbuf_addf(out, "\\x%02x", (unsigned char)s[i]);
			i++;
		}
	}
}

void jrec_strn(struct jrec *r, const char *key, const char *value, size_t len)
{
	struct strbuf masked = STRBUF_INIT, clean = STRBUF_INIT;
	if (!value) {
		put(r, key, json_null());
		return;
	}
	if (r->log->red) {
		size_t before[REDACT_NRULES];
		memcpy(before, r->log->red->counts, sizeof(before));
		redact(r->log->red, value, len, &masked);
		for (int k = 0; k < REDACT_NRULES; k++)
			r->counts[k] += r->log->red->counts[k] - before[k];
	} else {
		strbuf_add(&masked, value, len);
	}
	sanitize(masked.buf, masked.len, &clean);
	put(r, key, json_stringn(clean.buf, clean.len));
	strbuf_release(&masked);
	strbuf_release(&clean);
}

void jrec_str(struct jrec *r, const char *key, const char *value)
{
	jrec_strn(r, key, value, value ? strlen(value) : 0);
}

void jrec_raw_str(struct jrec *r, const char *key, const char *value)
{
	struct strbuf clean = STRBUF_INIT;
	if (!value) {
		put(r, key, json_null());
		return;
	}
	sanitize(value, strlen(value), &clean);
	put(r, key, json_stringn(clean.buf, clean.len));
	strbuf_release(&clean);
}

void jrec_int(struct jrec *r, const char *key, int64_t value)
{
	put(r, key, json_integer((json_int_t)value));
}

void jrec_bool(struct jrec *r, const char *key, bool value)
{
	put(r, key, json_boolean(value));
}

void jrec_null(struct jrec *r, const char *key)
{
	put(r, key, json_null());
}

static void open_container(struct jrec *r, const char *key, json_t *c)
{
	if (r->depth + 1 >= JREC_DEPTH) {
		json_decref(c);
		return;
	}
	put(r, key, c);
	r->stack[++r->depth] = c;
}

void jrec_open(struct jrec *r, const char *key)
{
	open_container(r, key, json_object());
}

void jrec_open_array(struct jrec *r, const char *key)
{
	open_container(r, key, json_array());
}

void jrec_close(struct jrec *r)
{
	if (r->depth > 0)
		r->depth--;
}

void jrec_free(struct jrec *r)
{
	if (!r)
		return;
	json_decref(r->root);
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
	if (log->fsync && fdatasync(log->fd) < 0 && errno != EINVAL) {
		strbuf_addf(err, "journal: cannot sync %s: %s", log->path, strerror(errno));
		log->failed = true;
		return -1;
	}
	return 0;
}

int runlog_emit(struct runlog *log, struct jrec *r, struct strbuf *err)
{
	int ret = -1;
	char *text = NULL;

	if (log->fd < 0 || log->failed) {
		strbuf_addf(err, "journal: %s cannot take more records", log->path);
		goto out;
	}
	bool any = false;
	for (int k = 0; k < REDACT_NRULES; k++)
		any |= r->counts[k] > 0;
	if (any) {
		json_t *o = json_object();
		for (int k = 0; k < REDACT_NRULES; k++)
			if (r->counts[k])
				json_object_set_new(o, redact_rule_name((enum redact_rule)k),
						    json_integer((json_int_t)r->counts[k]));
		json_object_set_new(r->root, "redacted", o);
	}
	text = json_dumps(r->root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text) {
		strbuf_addstr(err, "journal: cannot serialise a record");
		goto out;
	}
	size_t len = strlen(text);
	char *line = xmalloc(len + 1);
	memcpy(line, text, len);
	line[len] = '\n';
	if (write_line(log, line, len + 1, err) == 0) {
		sha256_hex(line, len, log->prev);
		sha512_update(&log->whole, line, len + 1);
		log->bytes += len + 1;
		log->seq++;
		ret = 0;
	}
	free(line);
out:
	free(text);
	jrec_free(r);
	return ret;
}

int runlog_checkpoint(struct runlog *log, struct sign_key *key, const char *after, struct strbuf *err)
{
	struct sha512 copy = log->whole;
	unsigned char digest[SHA512_LEN];
	struct strbuf armored = STRBUF_INIT;
	int ret = -1;

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
	if (key && log->fd >= 0 && !log->failed) {
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
		fdatasync(log->fd);
		close(log->fd);
	}
	log->fd = -1;
	free(log->path);
	log->path = NULL;
}
