/* test_sign.c - hashes, OpenSSH keys, SSHSIG and allowed_signers, checked
 * against the real ssh-keygen, ssh-agent and ssh-add in a temp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include <unistd.h>

#include "sys/proc.h"
#include "sign/sign.h"
#include "base/xalloc.h"

#define NS "runbook-log"

static char tmpdir[256];

/* ---- helpers ---- */

/* at returns tmpdir/name in one of a few rotating buffers. */
static const char *at(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
	return b;
}

/* run runs argv with stdin from in_path (or /dev/null), stdout appended to
 * out (when non-NULL), extra environment `env`, and `unset` names removed;
 * returns the exit code.  stderr is kept in last_stderr. */
static struct strbuf last_stderr = STRBUF_INIT;

static int run_env(const char *in_path, struct strbuf *out, const char *const *env,
		   const char *const *unset, const char *const *argv)
{
	struct proc p = PROC_INIT;
	struct capture cout, cerr;
	struct strbuf msg = STRBUF_INIT;
	int in_fd = -1, code;

	if (in_path) {
		in_fd = open(in_path, O_RDONLY | O_CLOEXEC);
		if (in_fd < 0)
			fail_msg("open %s: %s", in_path, strerror(errno));
	}
	p.argv = argv;
	p.env = env;
	p.unset = unset;
	p.in_fd = in_fd;
	capture_init(&cout, 1 << 20, NULL);
	capture_init(&cerr, 1 << 20, NULL);
	code = proc_run(&p, &cout, &cerr, 30000, NULL, &msg);
	if (in_fd >= 0)
		close(in_fd);
	if (code < 0)
		fail_msg("%s", msg.buf);
	if (out)
		strbuf_addbuf(out, &cout.text);
	strbuf_reset(&last_stderr);
	strbuf_addbuf(&last_stderr, &cerr.text);
	capture_release(&cout);
	capture_release(&cerr);
	strbuf_release(&msg);
	return code;
}

static int run(const char *in_path, struct strbuf *out, const char *const *argv)
{
	return run_env(in_path, out, NULL, NULL, argv);
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd;
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void read_file(const char *path, struct strbuf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	assert_int_equal(strbuf_read_fd(out, fd), 0);
	close(fd);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("expected \"%s\" in \"%s\"", needle, haystack);
}

/* field returns the n-th (0-based) blank-separated field of line. */
static void field(const char *line, int n, struct strbuf *out)
{
	const char *p = line;
	for (int i = 0; i <= n; i++) {
		size_t len;
		p += strspn(p, " \t");
		len = strcspn(p, " \t\n");
		if (i == n) {
			strbuf_add(out, p, len);
			return;
		}
		p += len;
	}
}

static void pub_path(const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s.pub", at(name));
}

/* ssh_keygen_key makes tmpdir/name with ssh-keygen itself. */
static void ssh_keygen_key(const char *name, const char *type, const char *passphrase,
			   const char *comment)
{
	char pub[600];
	pub_path(name, pub, sizeof(pub));
	unlink(at(name));
	unlink(pub);
	const char *argv[] = {"ssh-keygen", "-q",	 "-t", type, "-N", passphrase,
			      "-C",	    comment, "-f", at(name), NULL};
	if (run(NULL, NULL, argv) != 0)
		fail_msg("ssh-keygen -t %s: %s", type, last_stderr.buf);
}

/* our_keygen makes tmpdir/name with sign_keygen. */
static void our_keygen(const char *name, const char *comment)
{
	struct strbuf err = STRBUF_INIT;
	char pub[600];
	pub_path(name, pub, sizeof(pub));
	unlink(at(name));
	unlink(pub);
	if (sign_keygen(at(name), comment, &err) < 0)
		fail_msg("sign_keygen: %s", err.buf);
	strbuf_release(&err);
}

static struct sign_key *load(const char *name)
{
	struct strbuf err = STRBUF_INIT;
	struct sign_key *k = sign_key_load(at(name), &err);
	if (!k)
		fail_msg("sign_key_load %s: %s", name, err.buf);
	strbuf_release(&err);
	return k;
}

/* load_fails asserts that loading fails with `expected` in the message. */
static void load_fails(const char *path, const char *expected)
{
	struct strbuf err = STRBUF_INIT;
	struct sign_key *k = sign_key_load(path, &err);
	if (k)
		fail_msg("sign_key_load %s succeeded; expected \"%s\"", path, expected);
	assert_contains(err.buf, expected);
	strbuf_release(&err);
}

/* pub_fields returns "TYPE BASE64" of tmpdir/name.pub. */
static void pub_fields(const char *name, struct strbuf *out)
{
	struct strbuf text = STRBUF_INIT;
	char pub[600];
	pub_path(name, pub, sizeof(pub));
	read_file(pub, &text);
	field(text.buf, 0, out);
	strbuf_addch(out, ' ');
	field(text.buf, 1, out);
	strbuf_release(&text);
}

static void write_text(const char *name, const char *text)
{
	write_file(at(name), text, strlen(text), 0644);
}

/* our_sign signs tmpdir/msg with the key and writes tmpdir/sig. */
static void our_sign(struct sign_key *k, const char *msg, const char *ns, const char *sig)
{
	struct strbuf data = STRBUF_INIT, armored = STRBUF_INIT, err = STRBUF_INIT;
	read_file(at(msg), &data);
	if (sign_buffer(k, ns, data.buf, data.len, &armored, &err) < 0)
		fail_msg("sign_buffer: %s", err.buf);
	write_file(at(sig), armored.buf, armored.len, 0644);
	strbuf_release(&data);
	strbuf_release(&armored);
	strbuf_release(&err);
}

/* ssh_sign runs ssh-keygen -Y sign, which writes tmpdir/msg.sig. */
static void ssh_sign(const char *key, const char *msg, const char *ns)
{
	char sig[600];
	snprintf(sig, sizeof(sig), "%s.sig", at(msg));
	unlink(sig);
	const char *argv[] = {"ssh-keygen", "-Y", "sign", "-f", at(key), "-n", ns, at(msg), NULL};
	if (run(NULL, NULL, argv) != 0)
		fail_msg("ssh-keygen -Y sign: %s", last_stderr.buf);
}

/* ssh_verify runs the auditor's command and returns its exit code. */
static int ssh_verify(const char *signers, const char *principal, const char *ns,
		      const char *sig, const char *msg)
{
	char signers_path[600], sig_path[600];
	snprintf(signers_path, sizeof(signers_path), "%s", at(signers));
	snprintf(sig_path, sizeof(sig_path), "%s", at(sig));
	const char *argv[] = {"ssh-keygen", "-Y", "verify", "-f", signers_path, "-I", principal,
			      "-n",	    ns,	  "-s",	    sig_path, NULL};
	return run(at(msg), NULL, argv);
}

/* our_verify is sshsig_verify over files in tmpdir; as may be NULL. */
static int our_verify(const char *sig, const char *msg, const char *ns,
		      const struct allowed_signers *as, const char *principal,
		      struct sshsig_info *info, struct strbuf *err)
{
	struct strbuf sig_text = STRBUF_INIT, data = STRBUF_INIT;
	unsigned char digest[SHA512_LEN];
	int ret;
	read_file(at(sig), &sig_text);
	read_file(at(msg), &data);
	sha512_buffer(data.buf, data.len, digest);
	ret = sshsig_verify(sig_text.buf, sig_text.len, digest, ns, as, principal, info, err);
	strbuf_release(&sig_text);
	strbuf_release(&data);
	return ret;
}

static struct allowed_signers *signers_from(const char *text)
{
	struct strbuf err = STRBUF_INIT;
	struct allowed_signers *as = allowed_signers_parse("t", text, strlen(text), &err);
	if (!as)
		fail_msg("allowed_signers_parse: %s", err.buf);
	strbuf_release(&err);
	return as;
}

/* signers_line writes "principals [options] TYPE BASE64" for key `name`. */
static void signers_line(struct strbuf *out, const char *principals, const char *options,
			 const char *name)
{
	strbuf_addf(out, "%s %s%s", principals, options ? options : "", options ? " " : "");
	pub_fields(name, out);
	strbuf_addch(out, '\n');
}

/* ---- hashes ---- */

static void sha512_vectors(void **state)
{
	(void)state;
	unsigned char md[SHA512_LEN], md2[SHA512_LEN];
	char hex[2 * SHA512_LEN + 1];
	struct sha512 ctx;
	unsigned char data[10000];

	sha512_buffer("abc", 3, md);
	hex_encode(md, SHA512_LEN, hex);
	assert_string_equal(hex, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
				 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	sha512_init(&ctx);
	sha512_final(&ctx, md);
	hex_encode(md, SHA512_LEN, hex);
	assert_string_equal(hex, "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
				 "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	sha512_buffer(data, sizeof(data), md);
	sha512_init(&ctx);
	for (size_t off = 0, step = 1; off < sizeof(data); off += step, step = step * 3 % 997 + 1)
		sha512_update(&ctx, data + off, off + step > sizeof(data) ? sizeof(data) - off : step);
	sha512_final(&ctx, md2);
	assert_memory_equal(md, md2, SHA512_LEN);
}

/* sha256_vectors: ours (SHA-NI when the CPU has it) against the FIPS
 * vectors and against libsodium's portable code on every length up to
 * four blocks, fed whole, byte by byte and in uneven chunks, and on 1 MB
 * fed in chunks that straddle block boundaries. */
static void sha256_vectors(void **state)
{
	(void)state;
	char hex[SHA256_HEX_LEN + 1];
	unsigned char md[SHA256_LEN], ref[SHA256_LEN];
	struct sha256 ctx;

	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	size_t big = 1 << 20;
	unsigned char *data = xmalloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (unsigned char)(i * 131 + i / 509);
	for (size_t len = 0; len <= 256 + 3; len++) {
		crypto_hash_sha256(ref, data, len);
		sha256_init(&ctx);
		sha256_update(&ctx, data, len);
		sha256_final(&ctx, md);
		assert_memory_equal(md, ref, SHA256_LEN);
		sha256_init(&ctx);
		for (size_t i = 0; i < len; i++)
			sha256_update(&ctx, data + i, 1);
		sha256_final(&ctx, md);
		assert_memory_equal(md, ref, SHA256_LEN);
		sha256_init(&ctx);
		for (size_t off = 0, step = len % 7 + 1; off < len; off += step, step = step * 5 % 71 + 1)
			sha256_update(&ctx, data + off, off + step > len ? len - off : step);
		sha256_final(&ctx, md);
		assert_memory_equal(md, ref, SHA256_LEN);
	}
	crypto_hash_sha256(ref, data, big);
	sha256_init(&ctx);
	for (size_t off = 0, step = 1; off < big; off += step, step = step * 3 % 65521 + 1)
		sha256_update(&ctx, data + off, off + step > big ? big - off : step);
	sha256_final(&ctx, md);
	assert_memory_equal(md, ref, SHA256_LEN);
	free(data);
}

/* ---- keys ---- */

static void keygen_writes_openssh_files(void **state)
{
	(void)state;
	struct strbuf priv = STRBUF_INIT, pub = STRBUF_INIT, line = STRBUF_INIT;
	struct strbuf err = STRBUF_INIT;
	struct stat st;
	char pub_name[600];

	our_keygen("gen", "ops@example.com");
	pub_path("gen", pub_name, sizeof(pub_name));
	assert_int_equal(stat(at("gen"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(pub_name, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	read_file(at("gen"), &priv);
	assert_true(!strncmp(priv.buf, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36));
	assert_non_null(strstr(priv.buf, "\n-----END OPENSSH PRIVATE KEY-----\n"));
	read_file(pub_name, &pub);
	assert_true(!strncmp(pub.buf, "ssh-ed25519 AAAA", 16));
	assert_true(pub.len > 20 && !strcmp(pub.buf + pub.len - 17, " ops@example.com\n"));

	/* ssh-keygen derives the same public key from our private key file */
	const char *derive[] = {"ssh-keygen", "-y", "-f", at("gen"), NULL};
	assert_int_equal(run(NULL, &line, derive), 0);
	assert_string_equal(line.buf, pub.buf);

	/* sign_key_load agrees with the .pub file and with ssh-keygen -l */
	struct sign_key *k = load("gen");
	strbuf_setlen(&pub, pub.len - 1);
	assert_string_equal(sign_key_public(k), pub.buf);
	assert_false(sign_key_uses_agent(k));
	strbuf_reset(&line);
	const char *list[] = {"ssh-keygen", "-l", "-f", pub_name, NULL};
	assert_int_equal(run(NULL, &line, list), 0);
	strbuf_reset(&pub);
	field(line.buf, 1, &pub);
	assert_string_equal(sign_key_fingerprint(k), pub.buf);
	assert_int_equal(strlen(sign_key_fingerprint(k)), 7 + 43);
	sign_key_free(k);

	/* sign_read_pubkey_file gives the line without its newline */
	strbuf_reset(&line);
	assert_int_equal(sign_read_pubkey_file(pub_name, &line, &err), 0);
	assert_true(!strncmp(line.buf, "ssh-ed25519 AAAA", 16));
	assert_null(strchr(line.buf, '\n'));
	write_text("notpub", "hello world\n");
	assert_int_equal(sign_read_pubkey_file(at("notpub"), &line, &err), -1);
	assert_contains(err.buf, "not an OpenSSH public key");

	strbuf_release(&priv);
	strbuf_release(&pub);
	strbuf_release(&line);
	strbuf_release(&err);
}

static void keygen_never_overwrites(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT, before = STRBUF_INIT, after = STRBUF_INIT;
	struct stat st;
	char pub_name[600];

	our_keygen("keep", NULL);
	read_file(at("keep"), &before);
	assert_int_equal(sign_keygen(at("keep"), "x", &err), -1);
	assert_contains(err.buf, "already exists");
	read_file(at("keep"), &after);
	assert_string_equal(before.buf, after.buf);

	/* an existing .pub alone also stops it, and no private key is left */
	pub_path("lonely", pub_name, sizeof(pub_name));
	unlink(at("lonely"));
	write_file(pub_name, "x\n", 2, 0644);
	strbuf_reset(&err);
	assert_int_equal(sign_keygen(at("lonely"), "x", &err), -1);
	assert_contains(err.buf, "lonely.pub: already exists");
	assert_int_equal(lstat(at("lonely"), &st), -1);

	/* a symbolic link, even a dangling one, is refused */
	unlink(at("link"));
	unlink(at("link-target"));
	assert_int_equal(symlink(at("link-target"), at("link")), 0);
	strbuf_reset(&err);
	assert_int_equal(sign_keygen(at("link"), "x", &err), -1);
	assert_contains(err.buf, "is a symbolic link");
	assert_int_equal(lstat(at("link-target"), &st), -1);

	/* a comment cannot break the .pub line */
	strbuf_reset(&err);
	unlink(at("nl"));
	assert_int_equal(sign_keygen(at("nl"), "a\nb", &err), -1);
	assert_contains(err.buf, "single line");
	assert_int_equal(lstat(at("nl"), &st), -1);

	strbuf_release(&err);
	strbuf_release(&before);
	strbuf_release(&after);
}

static void load_refuses_unsafe_files(void **state)
{
	(void)state;
	our_keygen("perm", "p");
	assert_int_equal(chmod(at("perm"), 0644), 0);
	load_fails(at("perm"), "readable by group or others (mode 0644); run chmod 600");
	assert_int_equal(chmod(at("perm"), 0620), 0);
	load_fails(at("perm"), "by group or others (mode 0620)");
	assert_int_equal(chmod(at("perm"), 0600), 0);
	sign_key_free(load("perm"));

	if (geteuid() == 0) {
		/* as root the test can hand the file to nobody */
		assert_int_equal(chown(at("perm"), 65534, 65534), 0);
		load_fails(at("perm"), "owned by uid 65534, not by you (uid 0)");
		assert_int_equal(chown(at("perm"), 0, 0), 0);
	}

	unlink(at("perm-link"));
	assert_int_equal(symlink(at("perm"), at("perm-link")), 0);
	load_fails(at("perm-link"), "is a symbolic link");
	load_fails(tmpdir, "not a regular file");
	load_fails(at("no-such-key"), "No such file or directory");
}

static void load_rejects_damaged_and_foreign_keys(void **state)
{
	(void)state;
	struct strbuf text = STRBUF_INIT;
	char pub_a[600], pub_b[600];
	size_t line3;

	/* a changed byte inside the private section */
	our_keygen("dmg", "d");
	read_file(at("dmg"), &text);
	line3 = (size_t)(strchr(strchr(strchr(text.buf, '\n') + 1, '\n') + 1, '\n') - text.buf) + 1;
	text.buf[line3 + 30] = text.buf[line3 + 30] == 'A' ? 'B' : 'A';
	write_file(at("dmg"), text.buf, text.len, 0600);
	load_fails(at("dmg"), "damaged OpenSSH private key");

	/* truncated */
	write_file(at("dmg"), text.buf, 120, 0600);
	load_fails(at("dmg"), "damaged OpenSSH private key");

	/* not a key at all, and no .pub to go by */
	pub_path("junk", pub_a, sizeof(pub_a));
	unlink(pub_a);
	write_file(at("junk"), "hello\n", 6, 0600);
	load_fails(at("junk"), "not an OpenSSH-format private key");

	/* a .pub of another key next to the private key */
	our_keygen("pa", "a");
	our_keygen("pb", "b");
	pub_path("pa", pub_a, sizeof(pub_a));
	pub_path("pb", pub_b, sizeof(pub_b));
	assert_int_equal(rename(pub_b, pub_a), 0);
	load_fails(at("pa"), "holds a different key");

	/* a kind of key runbook cannot verify */
	ssh_keygen_key("ecdsa", "ecdsa", "", "e");
	load_fails(at("ecdsa"), "type ecdsa-sha2-nistp256 is not supported");

	strbuf_release(&text);
}

/* ---- signatures against ssh-keygen ---- */

static void our_signature_verified_by_ssh_keygen(void **state)
{
	(void)state;
	struct strbuf signers = STRBUF_INIT, out = STRBUF_INIT;

	our_keygen("ours", "alice@example.com");
	write_text("m1", "{\"v\":1,\"seq\":1,\"type\":\"run.start\"}\n");
	struct sign_key *k = load("ours");
	our_sign(k, "m1", NS, "m1.ours");
	signers_line(&signers, "alice@example.com", NULL, "ours");
	write_text("signers1", signers.buf);
	const char *argv[] = {"ssh-keygen", "-Y", "verify", "-f", at("signers1"), "-I",
			      "alice@example.com", "-n", NS, "-s", at("m1.ours"), NULL};
	if (run(at("m1"), &out, argv) != 0)
		fail_msg("ssh-keygen -Y verify: %s", last_stderr.buf);
	assert_contains(out.buf, "Good \"runbook-log\" signature for alice@example.com");
	sign_key_free(k);
	strbuf_release(&signers);
	strbuf_release(&out);
}

static void ssh_keygen_keys_and_signatures_interoperate(void **state)
{
	(void)state;
	struct strbuf pub = STRBUF_INIT, theirs = STRBUF_INIT, ours = STRBUF_INIT;
	struct strbuf signers = STRBUF_INIT, err = STRBUF_INIT, data = STRBUF_INIT;
	struct strbuf digest_sig = STRBUF_INIT;
	struct sshsig_info info;
	unsigned char digest[SHA512_LEN];
	struct sha512 ctx;
	char pub_name[600];

	ssh_keygen_key("theirs", "ed25519", "", "ops@example.com");
	struct sign_key *k = load("theirs");
	pub_path("theirs", pub_name, sizeof(pub_name));
	read_file(pub_name, &pub);
	strbuf_rtrim(&pub);
	assert_string_equal(sign_key_public(k), pub.buf);

	write_text("m2", "step 3: ALTER TABLE orders ADD COLUMN archived boolean;\n");
	ssh_sign("theirs", "m2", NS);
	our_sign(k, "m2", NS, "m2.ours");
	read_file(at("m2.sig"), &theirs);
	read_file(at("m2.ours"), &ours);
	/* Ed25519 is deterministic: the same key and message give the same bytes */
	assert_string_equal(ours.buf, theirs.buf);

	/* sign_digest over a streamed SHA-512 gives the same signature again */
	read_file(at("m2"), &data);
	sha512_init(&ctx);
	sha512_update(&ctx, data.buf, 10);
	sha512_update(&ctx, data.buf + 10, data.len - 10);
	sha512_final(&ctx, digest);
	assert_int_equal(sign_digest(k, NS, digest, &digest_sig, &err), 0);
	assert_string_equal(digest_sig.buf, theirs.buf);

	signers_line(&signers, "ops@example.com", NULL, "theirs");
	write_text("signers2", signers.buf);
	assert_int_equal(ssh_verify("signers2", "ops@example.com", NS, "m2.ours", "m2"), 0);

	struct allowed_signers *as = signers_from(signers.buf);
	if (our_verify("m2.sig", "m2", NS, as, "ops@example.com", &info, &err) < 0)
		fail_msg("sshsig_verify: %s", err.buf);
	assert_string_equal(info.principal, "ops@example.com");
	assert_string_equal(info.fingerprint, sign_key_fingerprint(k));
	assert_string_equal(info.namespace, NS);
	strbuf_reset(&pub);
	pub_fields("theirs", &pub);
	assert_string_equal(info.pubkey, pub.buf);

	/* without allowed signers only the signature itself is checked */
	assert_int_equal(our_verify("m2.sig", "m2", NS, NULL, NULL, &info, &err), 0);
	assert_string_equal(info.principal, "");
	assert_int_equal(sshsig_parse(theirs.buf, theirs.len, &info, &err), 0);
	assert_string_equal(info.fingerprint, sign_key_fingerprint(k));

	/* an empty namespace is refused, as PROTOCOL.sshsig requires */
	strbuf_reset(&err);
	assert_int_equal(sign_digest(k, "", digest, &digest_sig, &err), -1);
	assert_contains(err.buf, "namespace must not be empty");

	allowed_signers_free(as);
	sign_key_free(k);
	strbuf_release(&pub);
	strbuf_release(&theirs);
	strbuf_release(&ours);
	strbuf_release(&signers);
	strbuf_release(&err);
	strbuf_release(&data);
	strbuf_release(&digest_sig);
}

static void tampering_is_rejected_by_both(void **state)
{
	(void)state;
	struct strbuf signers = STRBUF_INIT, other = STRBUF_INIT, err = STRBUF_INIT;
	struct strbuf data = STRBUF_INIT;

	our_keygen("tk", "alice@example.com");
	our_keygen("stranger", "mallory@example.com");
	write_text("m3", "checkpoint: bytes [0, 4096) of run.jsonl\n");
	struct sign_key *k = load("tk");
	our_sign(k, "m3", NS, "m3.sig");
	signers_line(&signers, "alice@example.com", NULL, "tk");
	write_text("signers3", signers.buf);
	signers_line(&other, "alice@example.com", NULL, "stranger");
	write_text("signers3-other", other.buf);
	struct allowed_signers *as = signers_from(signers.buf);
	struct allowed_signers *as_other = signers_from(other.buf);

	assert_int_equal(ssh_verify("signers3", "alice@example.com", NS, "m3.sig", "m3"), 0);
	assert_int_equal(our_verify("m3.sig", "m3", NS, as, "alice@example.com", NULL, &err), 0);

	/* one flipped byte in the message */
	read_file(at("m3"), &data);
	data.buf[5] ^= 1;
	write_file(at("m3-flipped"), data.buf, data.len, 0644);
	assert_int_not_equal(ssh_verify("signers3", "alice@example.com", NS, "m3.sig", "m3-flipped"),
			     0);
	assert_int_equal(our_verify("m3.sig", "m3-flipped", NS, as, "alice@example.com", NULL, &err),
			 -1);
	assert_contains(err.buf, "signature does not match the data");

	/* another namespace */
	assert_int_not_equal(ssh_verify("signers3", "alice@example.com", "file", "m3.sig", "m3"), 0);
	strbuf_reset(&err);
	assert_int_equal(our_verify("m3.sig", "m3", "file", as, "alice@example.com", NULL, &err), -1);
	assert_contains(err.buf, "signature namespace is 'runbook-log', expected 'file'");

	/* a key the auditor does not list */
	assert_int_not_equal(
		ssh_verify("signers3-other", "alice@example.com", NS, "m3.sig", "m3"), 0);
	strbuf_reset(&err);
	assert_int_equal(
		our_verify("m3.sig", "m3", NS, as_other, "alice@example.com", NULL, &err), -1);
	assert_contains(err.buf, "is not in allowed_signers for principal alice@example.com");
	assert_contains(err.buf, sign_key_fingerprint(k));

	/* the right key, claimed for someone else */
	assert_int_not_equal(ssh_verify("signers3", "bob@example.com", NS, "m3.sig", "m3"), 0);
	strbuf_reset(&err);
	assert_int_equal(our_verify("m3.sig", "m3", NS, as, "bob@example.com", NULL, &err), -1);
	assert_contains(err.buf, "is not in allowed_signers for principal bob@example.com");
	assert_contains(err.buf, "lists it for alice@example.com");

	allowed_signers_free(as);
	allowed_signers_free(as_other);
	sign_key_free(k);
	strbuf_release(&signers);
	strbuf_release(&other);
	strbuf_release(&err);
	strbuf_release(&data);
}

/* b64 is a plain base64 encoder for crafting malformed signatures. */
static void b64(struct strbuf *out, const unsigned char *in, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		strbuf_addch(out, tab[v >> 18 & 63]);
		strbuf_addch(out, tab[v >> 12 & 63]);
		strbuf_addch(out, i + 1 < n ? tab[v >> 6 & 63] : '=');
		strbuf_addch(out, i + 2 < n ? tab[v & 63] : '=');
	}
}

static void b64_decode(struct strbuf *out, const char *in, size_t n)
{
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *p = in[i] ? strchr(tab, in[i]) : NULL;
		if (!p)
			continue;
		acc = acc << 6 | (unsigned)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			strbuf_addch(out, (int)(acc >> bits & 255));
		}
	}
}

static void armor(struct strbuf *out, const void *blob, size_t n)
{
	strbuf_addstr(out, "-----BEGIN SSH SIGNATURE-----\n");
	b64(out, blob, n);
	strbuf_addstr(out, "\n-----END SSH SIGNATURE-----\n");
}

static void expect_verify_error(const char *text, size_t len, const unsigned char *digest,
				const char *expected)
{
	struct strbuf err = STRBUF_INIT;
	struct sshsig_info info;
	assert_int_equal(sshsig_verify(text, len, digest, NS, NULL, NULL, &info, &err), -1);
	assert_contains(err.buf, expected);
	strbuf_release(&err);
}

static void corrupted_signatures_fail_cleanly(void **state)
{
	(void)state;
	struct strbuf good = STRBUF_INIT, bad = STRBUF_INIT, blob = STRBUF_INIT;
	struct strbuf err = STRBUF_INIT, body = STRBUF_INIT;
	struct sshsig_info info;
	unsigned char digest[SHA512_LEN];
	const char *msg = "corruption test\n";

	our_keygen("ck", "c");
	struct sign_key *k = load("ck");
	assert_int_equal(sign_buffer(k, NS, msg, strlen(msg), &good, &err), 0);
	sha512_buffer(msg, strlen(msg), digest);
	assert_int_equal(sshsig_verify(good.buf, good.len, digest, NS, NULL, NULL, &info, &err), 0);

	/* every truncation short of the final newline fails with a message */
	for (size_t len = 0; len + 1 < good.len; len++) {
		strbuf_reset(&err);
		if (sshsig_verify(good.buf, len, digest, NS, NULL, NULL, &info, &err) != -1)
			fail_msg("a signature cut to %zu bytes verified", len);
		assert_true(err.len > 0);
	}
	/* every single-byte substitution fails; sshsig_parse survives it */
	for (size_t i = 0; i < good.len; i++) {
		strbuf_reset(&bad);
		strbuf_addbuf(&bad, &good);
		bad.buf[i] = bad.buf[i] == 'A' ? 'B' : 'A';
		strbuf_reset(&err);
		if (sshsig_verify(bad.buf, bad.len, digest, NS, NULL, NULL, &info, &err) != -1)
			fail_msg("a signature with byte %zu changed verified", i);
		assert_true(err.len > 0);
		strbuf_reset(&err);
		(void)sshsig_parse(bad.buf, bad.len, &info, &err);
	}

	expect_verify_error("", 0, digest, "signature is empty");
	expect_verify_error("hello", 5, digest, "does not start with -----BEGIN SSH SIGNATURE-----");
	expect_verify_error("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n", 38, digest,
			    "no -----END SSH SIGNATURE----- line");
	strbuf_reset(&bad);
	strbuf_addstr(&bad, "-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n");
	expect_verify_error(bad.buf, bad.len, digest, "invalid base64");
	strbuf_reset(&bad);
	armor(&bad, "NOTSIG\0\0\0\1", 10);
	expect_verify_error(bad.buf, bad.len, digest, "does not start with SSHSIG");
	strbuf_reset(&bad);
	armor(&bad, "SSHSIG\0\0\0\2", 10);
	expect_verify_error(bad.buf, bad.len, digest, "signature version 2 is not supported");
	strbuf_reset(&bad);
	armor(&bad, "SSHSIG\0\0\0\1\0\0\0\xff", 14);
	expect_verify_error(bad.buf, bad.len, digest, "truncated");

	/* the real blob with one byte appended */
	strbuf_add(&body, good.buf + 30, good.len - 30 - 28);
	b64_decode(&blob, body.buf, body.len);
	strbuf_addch(&blob, 0);
	strbuf_reset(&bad);
	armor(&bad, blob.buf, blob.len);
	expect_verify_error(bad.buf, bad.len, digest, "trailing data");

	/* text after the footer */
	strbuf_reset(&bad);
	strbuf_addbuf(&bad, &good);
	strbuf_addstr(&bad, "extra\n");
	expect_verify_error(bad.buf, bad.len, digest, "data after its -----END SSH SIGNATURE-----");

	/* CRLF line ends, as a Windows editor leaves them, still verify */
	strbuf_reset(&bad);
	for (size_t i = 0; i < good.len; i++) {
		if (good.buf[i] == '\n')
			strbuf_addch(&bad, '\r');
		strbuf_addch(&bad, good.buf[i]);
	}
	strbuf_reset(&err);
	if (sshsig_verify(bad.buf, bad.len, digest, NS, NULL, NULL, &info, &err) != 0)
		fail_msg("CRLF signature: %s", err.buf);

	sign_key_free(k);
	strbuf_release(&good);
	strbuf_release(&bad);
	strbuf_release(&blob);
	strbuf_release(&err);
	strbuf_release(&body);
}

/* A signature by a hardware (sk-ssh-ed25519) key: made once from a fixed
 * seed following OpenSSH's ssh-ed25519-sk.c (flags 0x01, counter 7) and
 * accepted by ssh-keygen -Y verify, which this test checks again. */
static const char sk_pub[] =
	"sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA11UHVOCACl0jfu9Y"
	"JgNXZrmz5aFYaKlAqyiZWHiOOwAAAABHNzaDo=";
static const char sk_sig[] =
	"-----BEGIN SSH SIGNATURE-----\n"
	"U1NIU0lHAAAAAQAAAEoAAAAac2stc3NoLWVkMjU1MTlAb3BlbnNzaC5jb20AAAAgDXVQdU\n"
	"4IAKXSN+71gmA1dmubPloVhoqUCrKJlYeI47AAAAAEc3NoOgAAAAtydW5ib29rLWxvZwAA\n"
	"AAAAAAAGc2hhNTEyAAAAZwAAABpzay1zc2gtZWQyNTUxOUBvcGVuc3NoLmNvbQAAAEB03+\n"
	"8RR/D7rs0jI5WJ1nIlJHGMtSJNB5uWZlDrnMjDn0cUFm+QR5X5Tm67ZOXd8iOTszHgQIPc\n"
	"+eVjNMeSOvADAQAAAAc=\n"
	"-----END SSH SIGNATURE-----\n";
static const char sk_msg[] = "runbook sk vector\n";

static void hardware_key_signatures_verify(void **state)
{
	(void)state;
	struct strbuf signers = STRBUF_INIT, err = STRBUF_INIT;
	struct sshsig_info info;

	strbuf_addf(&signers, "ops@example.com %s\n", sk_pub);
	write_text("sk-signers", signers.buf);
	write_text("sk.sig", sk_sig);
	write_text("sk.msg", sk_msg);
	assert_int_equal(ssh_verify("sk-signers", "ops@example.com", NS, "sk.sig", "sk.msg"), 0);
	struct allowed_signers *as = signers_from(signers.buf);
	if (our_verify("sk.sig", "sk.msg", NS, as, "ops@example.com", &info, &err) < 0)
		fail_msg("sk signature: %s", err.buf);
	assert_string_equal(info.fingerprint, "SHA256:xtTGO8auoza6dPmrrMD9icitP4mhG59ctqyNf4K9fgs");
	assert_string_equal(info.pubkey, sk_pub);

	write_text("sk.msg", "runbook sk vector!\n");
	assert_int_equal(our_verify("sk.sig", "sk.msg", NS, as, "ops@example.com", &info, &err), -1);
	assert_contains(err.buf, "signature does not match the data");

	allowed_signers_free(as);
	strbuf_release(&signers);
	strbuf_release(&err);
}

/* ---- allowed_signers ---- */

static void signers_principals_and_patterns(void **state)
{
	(void)state;
	struct strbuf text = STRBUF_INIT, err = STRBUF_INIT;
	struct sshsig_info info;
	static const char *const allowed[] = {"alice@example.com", "bob@example.com",
					      "dave@ops.example.com", "carol smith",
					      "eve@corp.example"};
	static const char *const refused[] = {"carol@example.com", "mallory@corp.example",
					      "dave@ops.example.com.evil", "x"};

	our_keygen("pk", "k");
	write_text("m4", "hello\n");
	struct sign_key *k = load("pk");
	our_sign(k, "m4", NS, "m4.sig");

	strbuf_addstr(&text, "# runbook auditors\n\n   # an indented comment\n");
	signers_line(&text, "alice@example.com,bob@example.com", NULL, "pk");
	strbuf_setlen(&text, text.len - 1);
	strbuf_addstr(&text, " first line ends in CRLF\r\n");
	signers_line(&text, "*@ops.example.com", NULL, "pk");
	signers_line(&text, "\"carol smith\"", NULL, "pk");
	signers_line(&text, "!mallory@corp.example,*@corp.example", NULL, "pk");
	write_text("signers4", text.buf);
	struct allowed_signers *as = signers_from(text.buf);

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		strbuf_reset(&err);
		if (our_verify("m4.sig", "m4", NS, as, allowed[i], &info, &err) < 0)
			fail_msg("principal %s: %s", allowed[i], err.buf);
		assert_string_equal(info.principal, allowed[i]);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		strbuf_reset(&err);
		if (our_verify("m4.sig", "m4", NS, as, refused[i], &info, &err) == 0)
			fail_msg("principal %s was accepted", refused[i]);
		assert_contains(err.buf, "is not in allowed_signers for principal");
	}
	/* ssh-keygen reads the same file the same way */
	assert_int_equal(ssh_verify("signers4", "dave@ops.example.com", NS, "m4.sig", "m4"), 0);
	assert_int_equal(ssh_verify("signers4", "carol smith", NS, "m4.sig", "m4"), 0);
	assert_int_not_equal(ssh_verify("signers4", "mallory@corp.example", NS, "m4.sig", "m4"), 0);

	/* any principal: the first matching line's principals are reported */
	assert_int_equal(our_verify("m4.sig", "m4", NS, as, NULL, &info, &err), 0);
	assert_string_equal(info.principal, "alice@example.com,bob@example.com");

	allowed_signers_free(as);
	sign_key_free(k);
	strbuf_release(&text);
	strbuf_release(&err);
}

static void signers_options_restrict(void **state)
{
	(void)state;
	struct strbuf text = STRBUF_INIT, err = STRBUF_INIT;
	struct allowed_signers *as;

	our_keygen("ok", "k");
	write_text("m5", "hello\n");
	struct sign_key *k = load("ok");
	our_sign(k, "m5", NS, "m5.sig");

	signers_line(&text, "alice@example.com", "namespaces=\"file,git\"", "ok");
	write_text("signers5", text.buf);
	assert_int_not_equal(ssh_verify("signers5", "alice@example.com", NS, "m5.sig", "m5"), 0);
	as = signers_from(text.buf);
	assert_int_equal(our_verify("m5.sig", "m5", NS, as, "alice@example.com", NULL, &err), -1);
	assert_contains(err.buf, "may not sign namespace 'runbook-log': t:1 allows only "
				 "namespaces=\"file,git\"");
	allowed_signers_free(as);

	strbuf_reset(&text);
	signers_line(&text, "alice@example.com", "NameSpaces=\"file,runbook-*\"", "ok");
	write_text("signers5", text.buf);
	assert_int_equal(ssh_verify("signers5", "alice@example.com", NS, "m5.sig", "m5"), 0);
	as = signers_from(text.buf);
	assert_int_equal(our_verify("m5.sig", "m5", NS, as, "alice@example.com", NULL, &err), 0);
	allowed_signers_free(as);

	strbuf_reset(&text);
	signers_line(&text, "alice@example.com", "valid-before=\"20000101\"", "ok");
	write_text("signers5", text.buf);
	assert_int_not_equal(ssh_verify("signers5", "alice@example.com", NS, "m5.sig", "m5"), 0);
	as = signers_from(text.buf);
	strbuf_reset(&err);
	assert_int_equal(our_verify("m5.sig", "m5", NS, as, "alice@example.com", NULL, &err), -1);
	assert_contains(err.buf, "has expired: t:1 says valid-before=\"20000101\"");
	allowed_signers_free(as);

	strbuf_reset(&text);
	signers_line(&text, "alice@example.com", "valid-after=\"29990101Z\"", "ok");
	as = signers_from(text.buf);
	strbuf_reset(&err);
	assert_int_equal(our_verify("m5.sig", "m5", NS, as, "alice@example.com", NULL, &err), -1);
	assert_contains(err.buf, "is not valid yet");
	allowed_signers_free(as);

	strbuf_reset(&text);
	signers_line(&text, "alice@example.com",
		     "valid-after=\"200001010000Z\",valid-before=\"29991231235959\"", "ok");
	write_text("signers5", text.buf);
	assert_int_equal(ssh_verify("signers5", "alice@example.com", NS, "m5.sig", "m5"), 0);
	as = signers_from(text.buf);
	assert_int_equal(our_verify("m5.sig", "m5", NS, as, "alice@example.com", NULL, &err), 0);
	allowed_signers_free(as);

	/* certificates are not supported: a cert-authority line never matches */
	strbuf_reset(&text);
	signers_line(&text, "alice@example.com", "cert-authority", "ok");
	as = signers_from(text.buf);
	strbuf_reset(&err);
	assert_int_equal(our_verify("m5.sig", "m5", NS, as, "alice@example.com", NULL, &err), -1);
	assert_contains(err.buf, "is not in allowed_signers for principal alice@example.com");
	allowed_signers_free(as);

	sign_key_free(k);
	strbuf_release(&text);
	strbuf_release(&err);
}

static void signers_errors_name_the_line(void **state)
{
	(void)state;
	struct strbuf key = STRBUF_INIT, text = STRBUF_INIT, err = STRBUF_INIT;
	our_keygen("ek", "k");
	pub_fields("ek", &key);
	const char *b64key = strchr(key.buf, ' ') + 1;
	struct {
		const char *before, *after, *expected;
	} cases[] = {
		{"alice@example.com", "", "t:1: missing key"},
		{"# c\nalice@example.com ssh-ed25519", "", "t:2: missing key data after ssh-ed25519"},
		{"\n\nalice@example.com foo=\"x\" ssh-ed25519 ", NULL, "t:3: unknown option 'foo'"},
		{"alice@example.com ssh-ed25519 !!!!", "", "t:1: invalid key: invalid base64"},
		{"alice@example.com ssh-rsa ", NULL, "t:1: invalid key: the key data does not match"},
		{"alice@example.com namespaces=\"x\" foo-key ", NULL, "t:1: unknown key type 'foo-key'"},
		{"alice@example.com namespaces=\"x ssh-ed25519 ", NULL, "t:1: missing closing quote"},
		{"\"alice@example.com ssh-ed25519 ", NULL, "t:1: principals: missing closing quote"},
		{"alice@example.com valid-after=\"2024\" ssh-ed25519 ", NULL,
		 "t:1: valid-after=\"2024\" is not YYYYMMDD[HHMM[SS]][Z]"},
		{"alice@example.com namespaces=\"a\",namespaces=\"b\" ssh-ed25519 ", NULL,
		 "given twice"},
		{"alice@example.com valid-after=\"20300101\",valid-before=\"20200101\" ssh-ed25519 ",
		 NULL, "t:1: valid-before is not after valid-after"},
		{"alice@example.com namespaces=x ssh-ed25519 ", NULL, "needs a value in double quotes"},
		{"alice@example.com cert-authority, ssh-ed25519 ", NULL, "options end with a comma"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&text);
		strbuf_reset(&err);
		strbuf_addf(&text, "%s%s\n", cases[i].before, cases[i].after ? cases[i].after : b64key);
		struct allowed_signers *as = allowed_signers_parse("t", text.buf, text.len, &err);
		if (as)
			fail_msg("accepted: %s", text.buf);
		assert_contains(err.buf, cases[i].expected);
	}

	/* a file names itself and the line */
	strbuf_reset(&text);
	strbuf_addf(&text, "alice@example.com %s\nbob@example.com nope %s\n", key.buf, b64key);
	write_text("signers6", text.buf);
	strbuf_reset(&err);
	assert_null(allowed_signers_load(at("signers6"), &err));
	assert_contains(err.buf, "signers6:2: unknown option 'nope'");
	strbuf_reset(&err);
	assert_null(allowed_signers_load(at("no-such-signers"), &err));
	assert_contains(err.buf, "no-such-signers: No such file or directory");

	strbuf_release(&key);
	strbuf_release(&text);
	strbuf_release(&err);
}

/* ---- ssh-agent ---- */

static pid_t agent_pid;
static char agent_sock[512];
static char *saved_auth_sock;

static int agent_start(void **state)
{
	(void)state;
	struct strbuf out = STRBUF_INIT;
	const char *argv[] = {"ssh-agent", "-s", NULL};
	const char *p;
	size_t n;

	if (run(NULL, &out, argv) != 0)
		return -1;
	p = strstr(out.buf, "SSH_AUTH_SOCK=");
	if (!p)
		return -1;
	p += strlen("SSH_AUTH_SOCK=");
	n = strcspn(p, ";\n");
	if (n >= sizeof(agent_sock))
		return -1;
	memcpy(agent_sock, p, n);
	agent_sock[n] = '\0';
	p = strstr(out.buf, "SSH_AGENT_PID=");
	if (!p)
		return -1;
	agent_pid = (pid_t)atoi(p + strlen("SSH_AGENT_PID="));
	strbuf_release(&out);
	if (agent_pid <= 0)
		return -1;
	saved_auth_sock = getenv("SSH_AUTH_SOCK") ? xstrdup(getenv("SSH_AUTH_SOCK")) : NULL;
	setenv("SSH_AUTH_SOCK", agent_sock, 1);
	return 0;
}

static void agent_kill(void)
{
	if (agent_pid > 0) {
		kill(agent_pid, SIGTERM);
		/* the agent removes its socket on the way out */
		for (int i = 0; i < 500 && access(agent_sock, F_OK) == 0; i++)
			usleep(10000);
	}
	agent_pid = 0;
}

static int agent_stop(void **state)
{
	(void)state;
	agent_kill();
	if (saved_auth_sock)
		setenv("SSH_AUTH_SOCK", saved_auth_sock, 1);
	else
		unsetenv("SSH_AUTH_SOCK");
	free(saved_auth_sock);
	saved_auth_sock = NULL;
	return 0;
}

static void agent_signs_for_encrypted_keys(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT, signers = STRBUF_INIT, ours = STRBUF_INIT;
	struct strbuf theirs = STRBUF_INIT, pub = STRBUF_INIT, askpass = STRBUF_INIT;
	char pub_name[600], askpass_env[700];

	ssh_keygen_key("enc", "ed25519", "secretpass", "enc@example.com");
	pub_path("enc", pub_name, sizeof(pub_name));

	/* no agent at all */
	unsetenv("SSH_AUTH_SOCK");
	load_fails(at("enc"), "is passphrase-protected, so runbook signs with it through ssh-agent, "
			      "but SSH_AUTH_SOCK is not set");
	setenv("SSH_AUTH_SOCK", agent_sock, 1);

	/* an agent that does not hold the key */
	load_fails(at("enc"), "is not loaded in ssh-agent");
	load_fails(at("enc"), "add it with ssh-add");

	/* ssh-add reads the passphrase from an askpass helper */
	strbuf_addstr(&askpass, "#!/bin/sh\necho secretpass\n");
	write_file(at("askpass"), askpass.buf, askpass.len, 0700);
	snprintf(askpass_env, sizeof(askpass_env), "SSH_ASKPASS=%s", at("askpass"));
	const char *env[] = {askpass_env, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0", NULL};
	const char *add[] = {"ssh-add", at("enc"), NULL};
	if (run_env(NULL, NULL, env, NULL, add) != 0)
		fail_msg("ssh-add: %s", last_stderr.buf);

	struct sign_key *k = load("enc");
	assert_true(sign_key_uses_agent(k));
	read_file(pub_name, &pub);
	strbuf_rtrim(&pub);
	assert_string_equal(sign_key_public(k), pub.buf);

	write_text("m7", "signed through the agent\n");
	our_sign(k, "m7", NS, "m7.ours");
	signers_line(&signers, "enc@example.com", NULL, "enc");
	write_text("signers7", signers.buf);
	assert_int_equal(ssh_verify("signers7", "enc@example.com", NS, "m7.ours", "m7"), 0);

	/* ssh-keygen signing through the same agent produces the same bytes */
	const char *sign[] = {"ssh-keygen", "-Y", "sign", "-f", pub_name, "-n", NS, at("m7"), NULL};
	unlink(at("m7.sig"));
	if (run(NULL, NULL, sign) != 0)
		fail_msg("ssh-keygen -Y sign via agent: %s", last_stderr.buf);
	read_file(at("m7.ours"), &ours);
	read_file(at("m7.sig"), &theirs);
	assert_string_equal(ours.buf, theirs.buf);

	/* the agent goes away between signatures */
	agent_kill();
	strbuf_reset(&ours);
	assert_int_equal(sign_buffer(k, NS, "x", 1, &ours, &err), -1);
	assert_contains(err.buf, "cannot connect to ssh-agent");
	assert_int_equal(ours.len, 0);

	sign_key_free(k);
	strbuf_release(&err);
	strbuf_release(&signers);
	strbuf_release(&ours);
	strbuf_release(&theirs);
	strbuf_release(&pub);
	strbuf_release(&askpass);
}

/* ---- setup ---- */

static int make_tmpdir(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/runbook-sign-XXXXXX", base);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	const char *argv[] = {"rm", "-rf", tmpdir, NULL};
	run(NULL, NULL, argv);
	strbuf_release(&last_stderr);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha512_vectors),
		cmocka_unit_test(sha256_vectors),
		cmocka_unit_test(keygen_writes_openssh_files),
		cmocka_unit_test(keygen_never_overwrites),
		cmocka_unit_test(load_refuses_unsafe_files),
		cmocka_unit_test(load_rejects_damaged_and_foreign_keys),
		cmocka_unit_test(our_signature_verified_by_ssh_keygen),
		cmocka_unit_test(ssh_keygen_keys_and_signatures_interoperate),
		cmocka_unit_test(tampering_is_rejected_by_both),
		cmocka_unit_test(corrupted_signatures_fail_cleanly),
		cmocka_unit_test(hardware_key_signatures_verify),
		cmocka_unit_test(signers_principals_and_patterns),
		cmocka_unit_test(signers_options_restrict),
		cmocka_unit_test(signers_errors_name_the_line),
		cmocka_unit_test_setup_teardown(agent_signs_for_encrypted_keys, agent_start,
						agent_stop),
	};
	return cmocka_run_group_tests_name("sign", tests, make_tmpdir, remove_tmpdir);
}
