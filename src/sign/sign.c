/* sign.c - hashes, OpenSSH Ed25519 keys, an ssh-agent client and SSHSIG. */
#include "sign/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/wrapper.h"

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(struct sha256),
	       "struct sha256 too small for libsodium's state");
_Static_assert(sizeof(crypto_hash_sha512_state) <= sizeof(struct sha512),
	       "struct sha512 too small for libsodium's state");
_Static_assert(SHA512_LEN == crypto_hash_sha512_BYTES, "SHA512_LEN");

#define TYPE_ED25519 "ssh-ed25519"
#define TYPE_SK_ED25519 "sk-ssh-ed25519@openssh.com"
#define SSHSIG_MAGIC "SSHSIG"
#define SSHSIG_VERSION 1
#define SSHSIG_HASH "sha512"
#define SIG_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define SIG_END "-----END SSH SIGNATURE-----"
#define PRIV_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define PRIV_END "-----END OPENSSH PRIVATE KEY-----"
/* "openssh-key-v1" and its terminating NUL, as PROTOCOL.key spells it. */
#define PRIV_MAGIC "openssh-key-v1"
#define PRIV_MAGIC_LEN (sizeof(PRIV_MAGIC))
#define ARMOR_WIDTH 70
#define PRIV_FILE_MAX ((off_t)1 << 20)

/* draft-miller-ssh-agent message numbers. */
#define AGENT_FAILURE 5
#define AGENTC_REQUEST_IDENTITIES 11
#define AGENT_IDENTITIES_ANSWER 12
#define AGENTC_SIGN_REQUEST 13
#define AGENT_SIGN_RESPONSE 14
/* OpenSSH's own client refuses longer replies; so do we. */
#define AGENT_REPLY_MAX (256 * 1024)
#define AGENT_TIMEOUT_S 120

/* ---- hashes ---- */

/*
 * SHA-256 with the x86 SHA extensions when the CPU has them, libsodium's
 * portable code otherwise.  Every byte a command prints is hashed (the
 * journal records each stream's SHA-256), and libsodium 1.0.18 has no
 * hardware path: perf of a block printing 1 GB showed 62% of all CPU in
 * libsodium's SHA-256 (about 150-300 MB/s here); the SHA-NI rounds run at
 * well over 1 GB/s.  The choice is made once per process, so a context is
 * always driven by the same code.  tests/unit/test_sign.c checks the two
 * against each other on every length and chunking up to a few blocks.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI_CODE 1
#endif

struct sha256_hw {
	uint32_t h[8];
	uint64_t bytes;
	unsigned char buf[64];
};
_Static_assert(sizeof(struct sha256_hw) <= sizeof(struct sha256), "struct sha256 too small");

static const uint32_t sha256_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#ifdef HAVE_SHANI_CODE
static const uint32_t sha256_k[64] __attribute__((aligned(16))) = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* sha256_blocks_ni runs the compression function over n 64-byte blocks.
 * Four rounds per group; the message schedule for group g+4 is computed
 * from groups g..g+3 (W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]). */
__attribute__((target("sha,sse4.1,ssse3"))) static void sha256_blocks_ni(uint32_t h[8],
									const unsigned char *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);   /* DCBA */
	__m128i st1 = _mm_loadu_si128((const __m128i *)&h[4]);   /* HGFE */
	tmp = _mm_shuffle_epi32(tmp, 0xB1);                      /* CDAB */
	st1 = _mm_shuffle_epi32(st1, 0x1B);                      /* EFGH */
	__m128i st0 = _mm_alignr_epi8(tmp, st1, 8);              /* ABEF */
	st1 = _mm_blend_epi16(st1, tmp, 0xF0);                   /* CDGH */

	for (; n; n--, p += 64) {
		__m128i abef = st0, cdgh = st1, w[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			w[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * j)), bswap);
#pragma GCC unroll 16
		for (int g = 0; g < 16; g++) {
			__m128i msg = _mm_add_epi32(w[g & 3], _mm_load_si128((const __m128i *)&sha256_k[4 * g]));
			st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
			st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
			if (g < 12) {
				__m128i t = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
				t = _mm_add_epi32(t, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
				w[g & 3] = _mm_sha256msg2_epu32(t, w[(g + 3) & 3]);
			}
		}
		st0 = _mm_add_epi32(st0, abef);
		st1 = _mm_add_epi32(st1, cdgh);
	}

	tmp = _mm_shuffle_epi32(st0, 0x1B);                      /* FEBA */
	st1 = _mm_shuffle_epi32(st1, 0xB1);                      /* DCHG */
	st0 = _mm_blend_epi16(tmp, st1, 0xF0);                   /* DCBA */
	st1 = _mm_alignr_epi8(st1, tmp, 8);                      /* HGFE */
	_mm_storeu_si128((__m128i *)&h[0], st0);
	_mm_storeu_si128((__m128i *)&h[4], st1);
}
#endif

/* sha256_hw_available: SHA, SSE4.1 and SSSE3 (CPUID), decided once. */
static bool sha256_hw_available(void)
{
#ifdef HAVE_SHANI_CODE
	static int have = -1;
	if (have < 0) {
		unsigned a, b, c, d;
		have = 0;
		if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19)) && (c & (1u << 9)) &&
		    __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)))
			have = 1;
	}
	return have == 1;
#else
	return false;
#endif
}

#ifdef HAVE_SHANI_CODE
static void hw_update(struct sha256_hw *s, const unsigned char *p, size_t len)
{
	size_t used = (size_t)(s->bytes & 63);
	s->bytes += len;
	if (used) {
		size_t take = 64 - used < len ? 64 - used : len;
		memcpy(s->buf + used, p, take);
		p += take;
		len -= take;
		if (used + take < 64)
			return;
		sha256_blocks_ni(s->h, s->buf, 1);
	}
	if (len >= 64) {
		sha256_blocks_ni(s->h, p, len / 64);
		p += len & ~(size_t)63;
		len &= 63;
	}
	if (len)
		memcpy(s->buf, p, len);
}

static void hw_final(struct sha256_hw *s, unsigned char out[SHA256_LEN])
{
	uint64_t bits = s->bytes * 8;
	size_t used = (size_t)(s->bytes & 63);
	s->buf[used++] = 0x80;
	if (used > 56) {
		memset(s->buf + used, 0, 64 - used);
		sha256_blocks_ni(s->h, s->buf, 1);
		used = 0;
	}
	memset(s->buf + used, 0, 56 - used);
	for (int i = 0; i < 8; i++)
		s->buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_blocks_ni(s->h, s->buf, 1);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(s->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)s->h[i];
	}
	sodium_memzero(s, sizeof(*s));
}
#endif

void sha256_init(struct sha256 *ctx)
{
	if (sha256_hw_available()) {
		struct sha256_hw *s = (struct sha256_hw *)ctx->opaque;
		memcpy(s->h, sha256_iv, sizeof(s->h));
		s->bytes = 0;
		return;
	}
	crypto_hash_sha256_init((crypto_hash_sha256_state *)ctx->opaque);
}

void sha256_update(struct sha256 *ctx, const void *data, size_t len)
{
#ifdef HAVE_SHANI_CODE
	if (sha256_hw_available()) {
		hw_update((struct sha256_hw *)ctx->opaque, data, len);
		return;
	}
#endif
	crypto_hash_sha256_update((crypto_hash_sha256_state *)ctx->opaque, data, len);
}

void sha256_final(struct sha256 *ctx, unsigned char out[SHA256_LEN])
{
#ifdef HAVE_SHANI_CODE
	if (sha256_hw_available()) {
		hw_final((struct sha256_hw *)ctx->opaque, out);
		return;
	}
#endif
	crypto_hash_sha256_final((crypto_hash_sha256_state *)ctx->opaque, out);
}

void hex_encode(const unsigned char *bin, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 15];
	}
	out[2 * len] = '\0';
}

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[SHA256_LEN];
	struct sha256 ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, md);
	hex_encode(md, SHA256_LEN, out);
}

void sha512_init(struct sha512 *ctx)
{
	crypto_hash_sha512_init((crypto_hash_sha512_state *)ctx->opaque);
}

void sha512_update(struct sha512 *ctx, const void *data, size_t len)
{
	crypto_hash_sha512_update((crypto_hash_sha512_state *)ctx->opaque, data, len);
}

void sha512_final(struct sha512 *ctx, unsigned char out[SHA512_LEN])
{
	crypto_hash_sha512_final((crypto_hash_sha512_state *)ctx->opaque, out);
}

void sha512_buffer(const void *data, size_t len, unsigned char out[SHA512_LEN])
{
	crypto_hash_sha512(out, data, len);
}

/* ---- SSH wire encoding (RFC 4251 section 5) ---- */

/* A read cursor over a byte string; every getter fails rather than read
 * past the end, so malformed input can only make parsing fail. */
struct wire {
	const unsigned char *p;
	size_t left;
};

static bool wire_bytes(struct wire *w, size_t n, const unsigned char **out)
{
	if (w->left < n)
		return false;
	*out = w->p;
	w->p += n;
	w->left -= n;
	return true;
}

static bool wire_u8(struct wire *w, unsigned char *v)
{
	const unsigned char *b;
	if (!wire_bytes(w, 1, &b))
		return false;
	*v = b[0];
	return true;
}

static bool wire_u32(struct wire *w, uint32_t *v)
{
	const unsigned char *b;
	if (!wire_bytes(w, 4, &b))
		return false;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return true;
}

static bool wire_string(struct wire *w, const unsigned char **s, size_t *n)
{
	uint32_t len;
	if (!wire_u32(w, &len) || !wire_bytes(w, len, s))
		return false;
	*n = len;
	return true;
}

static bool bytes_are(const unsigned char *s, size_t n, const char *literal)
{
	return n == strlen(literal) && !memcmp(s, literal, n);
}

static void put_u32(struct strbuf *sb, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	strbuf_add(sb, b, 4);
}

static void put_string(struct strbuf *sb, const void *s, size_t n)
{
	put_u32(sb, (uint32_t)n);
	strbuf_add(sb, s, n);
}

static void put_cstring(struct strbuf *sb, const char *s)
{
	put_string(sb, s, strlen(s));
}

/* ---- base64 and buffers holding secrets ---- */

static void strbuf_wipe(struct strbuf *sb)
{
	if (sb->alloc)
		sodium_memzero(sb->buf, sb->alloc);
	strbuf_release(sb);
}

static void base64_append(struct strbuf *sb, const unsigned char *bin, size_t len, int variant)
{
	size_t room = sodium_base64_encoded_len(len, variant);
	strbuf_grow(sb, room);
	sodium_bin2base64(sb->buf + sb->len, room, bin, len, variant);
	strbuf_setlen(sb, sb->len + strlen(sb->buf + sb->len));
}

/* base64_wrapped appends base64 in lines of ARMOR_WIDTH, each ending in a
 * newline, as OpenSSH's armor does.  The flat encoding is wiped because this
 * also encodes private keys. */
static void base64_wrapped(struct strbuf *sb, const unsigned char *bin, size_t len)
{
	struct strbuf flat = STRBUF_INIT;
	strbuf_grow(&flat, sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL));
	base64_append(&flat, bin, len, sodium_base64_VARIANT_ORIGINAL);
	strbuf_grow(sb, flat.len + flat.len / ARMOR_WIDTH + 1);
	for (size_t at = 0; at < flat.len; at += ARMOR_WIDTH) {
		size_t n = flat.len - at < ARMOR_WIDTH ? flat.len - at : ARMOR_WIDTH;
		strbuf_add(sb, flat.buf + at, n);
		strbuf_addch(sb, '\n');
	}
	strbuf_wipe(&flat);
}

/* base64_decode appends the bytes of padded base64 text, ignoring line
 * breaks and blanks; -1 on anything else that is not canonical base64.  The
 * output is sized once so that secrets are never copied by a realloc. */
static int base64_decode(const char *text, size_t len, struct strbuf *out)
{
	size_t room = len / 4 * 3 + 3, binlen = 0;
	strbuf_grow(out, room);
	if (sodium_base642bin((unsigned char *)out->buf + out->len, room, text, len, " \t\r\n",
			      &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	strbuf_setlen(out, out->len + binlen);
	return 0;
}

/* find returns the offset of needle in hay[0, len), or -1. */
static long find(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (!memcmp(hay + i, needle, n))
			return (long)i;
	return -1;
}

/* ---- public keys ---- */

enum key_kind { KEY_OTHER, KEY_ED25519, KEY_SK_ED25519 };

/* A public key blob taken apart; pointers refer into the blob. */
struct pubkey {
	enum key_kind kind;
	char type[64];             /* the type name, printable ASCII */
	const unsigned char *pk;   /* 32 bytes for the Ed25519 kinds */
	const unsigned char *application; /* sk keys: e.g. "ssh:" */
	size_t application_len;
};

static bool printable_token(const unsigned char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 127)
			return false;
	return true;
}

/* pubkey_parse takes apart an SSH public key blob: strictly for the Ed25519
 * kinds, only the type name for others.  Returns 0 or -1 (malformed). */
static int pubkey_parse(const unsigned char *blob, size_t len, struct pubkey *key)
{
	struct wire w = {blob, len};
	const unsigned char *type, *pk;
	size_t type_len, pk_len;

	memset(key, 0, sizeof(*key));
	if (!wire_string(&w, &type, &type_len) || !printable_token(type, type_len) ||
	    type_len >= sizeof(key->type))
		return -1;
	memcpy(key->type, type, type_len);
	key->type[type_len] = '\0';
	if (!strcmp(key->type, TYPE_ED25519)) {
		if (!wire_string(&w, &pk, &pk_len) || pk_len != crypto_sign_ed25519_PUBLICKEYBYTES ||
		    w.left)
			return -1;
		key->kind = KEY_ED25519;
		key->pk = pk;
	} else if (!strcmp(key->type, TYPE_SK_ED25519)) {
		if (!wire_string(&w, &pk, &pk_len) || pk_len != crypto_sign_ed25519_PUBLICKEYBYTES ||
		    !wire_string(&w, &key->application, &key->application_len) || w.left)
			return -1;
		key->kind = KEY_SK_ED25519;
		key->pk = pk;
	} else {
		key->kind = KEY_OTHER;
	}
	return 0;
}

/* fingerprint_of writes "SHA256:" + unpadded base64, as ssh-keygen -l. */
static void fingerprint_of(const unsigned char *blob, size_t len, char out[64])
{
	unsigned char md[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(md, blob, len);
	memcpy(out, "SHA256:", 7);
	sodium_bin2base64(out + 7, 64 - 7, md, sizeof(md),
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

/* pubkey_text appends "TYPE BASE64". */
static void pubkey_text(struct strbuf *sb, const char *type, const unsigned char *blob, size_t len)
{
	strbuf_addstr(sb, type);
	strbuf_addch(sb, ' ');
	base64_append(sb, blob, len, sodium_base64_VARIANT_ORIGINAL);
}

/* decode_key_text decodes BASE64 into blob and checks that the blob's own
 * type name is `type`.  Returns 0, or -1 with *why set. */
static int decode_key_text(const char *type, const char *b64, size_t b64_len, struct strbuf *blob,
			   const char **why)
{
	struct pubkey key;
	if (base64_decode(b64, b64_len, blob) < 0) {
		*why = "invalid base64 in the key";
		return -1;
	}
	if (pubkey_parse((const unsigned char *)blob->buf, blob->len, &key) < 0) {
		*why = "malformed key data";
		return -1;
	}
	if (strcmp(key.type, type)) {
		*why = "the key data does not match its type name";
		return -1;
	}
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* parse_pubkey_line reads "TYPE BASE64 [COMMENT]" into blob and comment.
 * Returns 0, or -1 with *why set. */
static int parse_pubkey_line(const char *line, size_t len, struct strbuf *blob,
			     struct strbuf *comment, const char **why)
{
	size_t i = 0, type_at, type_end, b64_at;
	char type[64];

	while (i < len && is_blank(line[i]))
		i++;
	type_at = i;
	while (i < len && !is_blank(line[i]))
		i++;
	type_end = i;
	while (i < len && is_blank(line[i]))
		i++;
	b64_at = i;
	while (i < len && !is_blank(line[i]))
		i++;
	if (type_end == type_at || i == b64_at) {
		*why = "expected \"TYPE BASE64 [COMMENT]\"";
		return -1;
	}
	if (type_end - type_at >= sizeof(type)) {
		*why = "unknown key type";
		return -1;
	}
	memcpy(type, line + type_at, type_end - type_at);
	type[type_end - type_at] = '\0';
	if (decode_key_text(type, line + b64_at, i - b64_at, blob, why) < 0)
		return -1;
	while (i < len && is_blank(line[i]))
		i++;
	if (comment) {
		strbuf_add(comment, line + i, len - i);
		strbuf_rtrim(comment);
	}
	return 0;
}

/* read_small_file reads a regular file of at most `max` bytes, following
 * symbolic links.  *missing is set when it does not exist.  Returns 0 or -1
 * with a message. */
static int read_small_file(const char *path, size_t max, struct strbuf *out, bool *missing,
			   struct strbuf *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (missing)
		*missing = fd < 0 && errno == ENOENT;
	if (fd < 0) {
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		strbuf_addf(err, "%s: %s", path,
			    !S_ISREG(st.st_mode) ? "not a regular file" : "too large");
		close(fd);
		return -1;
	}
	if (strbuf_read_fd(out, fd) < 0) {
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* read_pubkey_file reads a .pub file into its line, blob and comment. */
static int read_pubkey_file(const char *path, struct strbuf *line, struct strbuf *blob,
			    struct strbuf *comment, bool *missing, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT;
	const char *why;
	size_t end;
	int ret = -1;

	if (read_small_file(path, 64 * 1024, &text, missing, err) < 0)
		goto out;
	end = strcspn(text.buf, "\r\n");
	if (end < text.len && text.buf[end] == '\0')
		end = text.len;
	if (memchr(text.buf, '\0', end)) {
		strbuf_addf(err, "%s: not a public key file (NUL byte)", path);
		goto out;
	}
	if (parse_pubkey_line(text.buf, end, blob, comment, &why) < 0) {
		strbuf_addf(err, "%s: not an OpenSSH public key: %s", path, why);
		goto out;
	}
	strbuf_add(line, text.buf, end);
	strbuf_rtrim(line);
	ret = 0;
out:
	strbuf_release(&text);
	return ret;
}

int sign_read_pubkey_file(const char *path, struct strbuf *out_line, struct strbuf *err)
{
	struct strbuf blob = STRBUF_INIT;
	int ret = read_pubkey_file(path, out_line, &blob, NULL, NULL, err);
	strbuf_release(&blob);
	return ret;
}

/* ---- key generation ---- */


/* create_exclusive creates path for writing, refusing anything already
 * there, symbolic links included. */
static int create_exclusive(const char *path, mode_t mode, struct strbuf *err)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
	if (fd >= 0) {
		if (fchmod(fd, mode) == 0)
			return fd;
		strbuf_addf(err, "%s: chmod: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (errno == EEXIST && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		strbuf_addf(err, "%s: is a symbolic link; runbook keygen writes keys only to a new "
				 "plain file",
			    path);
	else if (errno == EEXIST)
		strbuf_addf(err, "%s: already exists; runbook keygen never overwrites a key "
				 "(remove it or choose another file)",
			    path);
	else
		strbuf_addf(err, "%s: %s", path, strerror(errno));
	return -1;
}

static void ed25519_blob(struct strbuf *sb, const unsigned char pk[32])
{
	put_cstring(sb, TYPE_ED25519);
	put_string(sb, pk, crypto_sign_ed25519_PUBLICKEYBYTES);
}

/* private_key_text builds the openssh-key-v1 file (PROTOCOL.key) for an
 * unencrypted key.  `out` must be wiped by the caller. */
static void private_key_text(struct strbuf *out, const unsigned char pk[32],
			     const unsigned char sk[64], const char *comment)
{
	struct strbuf pub = STRBUF_INIT, priv = STRBUF_INIT, file = STRBUF_INIT;
	uint32_t check = randombytes_random();
	size_t need = 256 + 2 * strlen(comment);

	strbuf_grow(&priv, need);
	strbuf_grow(&file, need + 128);
	ed25519_blob(&pub, pk);

	put_u32(&priv, check);
	put_u32(&priv, check);
	put_cstring(&priv, TYPE_ED25519);
	put_string(&priv, pk, crypto_sign_ed25519_PUBLICKEYBYTES);
	put_string(&priv, sk, crypto_sign_ed25519_SECRETKEYBYTES);
	put_cstring(&priv, comment);
	for (unsigned char pad = 1; priv.len % 8; pad++)
		strbuf_addch(&priv, pad);

	strbuf_add(&file, PRIV_MAGIC, PRIV_MAGIC_LEN);
	put_cstring(&file, "none");
	put_cstring(&file, "none");
	put_cstring(&file, "");
	put_u32(&file, 1);
	put_string(&file, pub.buf, pub.len);
	put_string(&file, priv.buf, priv.len);

	strbuf_grow(out, 2 * file.len + 128);
	strbuf_addstr(out, PRIV_BEGIN "\n");
	base64_wrapped(out, (const unsigned char *)file.buf, file.len);
	strbuf_addstr(out, PRIV_END "\n");

	strbuf_release(&pub);
	strbuf_wipe(&priv);
	strbuf_wipe(&file);
}

int sign_keygen(const char *path, const char *comment, struct strbuf *err)
{
	unsigned char pk[crypto_sign_ed25519_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_ed25519_SECRETKEYBYTES];
	struct strbuf priv_text = STRBUF_INIT, pub_text = STRBUF_INIT, blob = STRBUF_INIT;
	char *pub_path = xasprintf("%s.pub", path);
	bool created = false, pub_created = false;
	int fd = -1, pub_fd = -1, ret = -1;

	if (!comment)
		comment = "";
	if (sodium_init() < 0) {
		strbuf_addstr(err, "keygen: libsodium could not be initialised");
		goto out;
	}
	if (strpbrk(comment, "\r\n")) {
		strbuf_addstr(err, "keygen: the key comment must be a single line");
		goto out;
	}
	if ((fd = create_exclusive(path, 0600, err)) < 0)
		goto out;
	created = true;
	if ((pub_fd = create_exclusive(pub_path, 0644, err)) < 0)
		goto out;
	pub_created = true;

	crypto_sign_ed25519_keypair(pk, sk);
	private_key_text(&priv_text, pk, sk, comment);
	ed25519_blob(&blob, pk);
	pubkey_text(&pub_text, TYPE_ED25519, (const unsigned char *)blob.buf, blob.len);
	if (*comment)
		strbuf_addf(&pub_text, " %s", comment);
	strbuf_addch(&pub_text, '\n');

	if (write_in_full(fd, priv_text.buf, priv_text.len) < 0 || fsync(fd) < 0) {
		strbuf_addf(err, "%s: write: %s", path, strerror(errno));
		goto out;
	}
	if (write_in_full(pub_fd, pub_text.buf, pub_text.len) < 0 || fsync(pub_fd) < 0) {
		strbuf_addf(err, "%s: write: %s", pub_path, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		strbuf_addf(err, "%s: close: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (close(pub_fd) < 0) {
		pub_fd = -1;
		strbuf_addf(err, "%s: close: %s", pub_path, strerror(errno));
		goto out;
	}
	pub_fd = -1;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (pub_fd >= 0)
		close(pub_fd);
	if (ret < 0 && created)
		unlink(path);
	if (ret < 0 && pub_created)
		unlink(pub_path);
	sodium_memzero(sk, sizeof(sk));
	strbuf_wipe(&priv_text);
	strbuf_release(&pub_text);
	strbuf_release(&blob);
	free(pub_path);
	return ret;
}

/* ---- private key files ---- */

/* read_private_file opens a private key without following a symbolic link,
 * checks that only its owner, the current user, can use it, and reads it
 * into a buffer allocated once (the caller wipes it). */
static int read_private_file(const char *path, struct strbuf *out, struct strbuf *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int ret = -1;

	if (fd < 0) {
		if (errno == ELOOP)
			strbuf_addf(err, "key %s: is a symbolic link; give the path of the key file "
					 "itself",
				    path);
		else
			strbuf_addf(err, "key %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		strbuf_addf(err, "key %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		strbuf_addf(err, "key %s: not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		strbuf_addf(err, "key %s: owned by uid %lu, not by you (uid %lu); use a key file "
				 "you own",
			    path, (unsigned long)st.st_uid, (unsigned long)geteuid());
		goto out;
	}
	if (st.st_mode & 077) {
		strbuf_addf(err, "key %s: %s by group or others (mode %04o); run chmod 600 %s", path,
			    st.st_mode & 044 ? "readable" : "accessible",
			    (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > PRIV_FILE_MAX) {
		strbuf_addf(err, "key %s: %lld bytes is too large for a private key file", path,
			    (long long)st.st_size);
		goto out;
	}
	strbuf_grow(out, (size_t)st.st_size + 1);
	for (;;) {
		size_t room = out->alloc - 1 - out->len;
		ssize_t n;
		if (room == 0) {
			strbuf_addf(err, "key %s: the file grew while it was being read", path);
			goto out;
		}
		n = read(fd, out->buf + out->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			strbuf_addf(err, "key %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		strbuf_setlen(out, out->len + (size_t)n);
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

/* An openssh-key-v1 file (PROTOCOL.key) taken apart; the pointers refer
 * into `decoded`, which openssh_key_release() wipes. */
struct openssh_key {
	struct strbuf decoded;
	bool encrypted;
	const unsigned char *pub;
	size_t pub_len;
	const unsigned char *priv;
	size_t priv_len;
};

static void openssh_key_release(struct openssh_key *key)
{
	strbuf_wipe(&key->decoded);
}

/* openssh_key_parse returns 1 for an openssh-key-v1 file, 0 for a file in
 * another format (PEM, PKCS#8), -1 with *why for a damaged one. */
static int openssh_key_parse(const char *text, size_t len, struct openssh_key *key,
			     const char **why)
{
	size_t begin_len = strlen(PRIV_BEGIN), cipher_len, kdf_len, kdfopts_len;
	const unsigned char *magic, *cipher, *kdf, *kdfopts;
	struct wire w;
	uint32_t nkeys;
	long end;

	if (len < begin_len || memcmp(text, PRIV_BEGIN, begin_len))
		return 0;
	text += begin_len;
	len -= begin_len;
	if ((end = find(text, len, PRIV_END)) < 0) {
		*why = "no " PRIV_END " line";
		return -1;
	}
	if (base64_decode(text, (size_t)end, &key->decoded) < 0) {
		*why = "invalid base64";
		return -1;
	}
	w.p = (const unsigned char *)key->decoded.buf;
	w.left = key->decoded.len;
	if (!wire_bytes(&w, PRIV_MAGIC_LEN, &magic) || memcmp(magic, PRIV_MAGIC, PRIV_MAGIC_LEN)) {
		*why = "not openssh-key-v1";
		return -1;
	}
	if (!wire_string(&w, &cipher, &cipher_len) || !wire_string(&w, &kdf, &kdf_len) ||
	    !wire_string(&w, &kdfopts, &kdfopts_len) || !wire_u32(&w, &nkeys)) {
		*why = "truncated header";
		return -1;
	}
	if (nkeys != 1) {
		*why = "it must hold exactly one key";
		return -1;
	}
	if (!wire_string(&w, &key->pub, &key->pub_len) ||
	    !wire_string(&w, &key->priv, &key->priv_len)) {
		*why = "truncated";
		return -1;
	}
	key->encrypted = !bytes_are(cipher, cipher_len, "none");
	if (!key->encrypted && !bytes_are(kdf, kdf_len, "none")) {
		*why = "unencrypted, yet it names a key derivation function";
		return -1;
	}
	return 1;
}

/* ---- loaded keys ---- */

struct sign_key {
	bool agent;                 /* sign through ssh-agent, not with `secret` */
	unsigned char secret[crypto_sign_ed25519_SECRETKEYBYTES]; /* seed || pk */
	struct strbuf blob;         /* the public key blob; never changed after load */
	struct pubkey key;          /* blob taken apart */
	char *path;
	char *agent_socket;         /* SSH_AUTH_SOCK at load time */
	struct strbuf public_line;  /* "TYPE BASE64 [COMMENT]" */
	char fingerprint[64];
};

/* load_plain takes the secret out of an unencrypted Ed25519 private section
 * and checks it against the public key in the header. */
static int load_plain(struct sign_key *k, const struct openssh_key *file, struct strbuf *comment,
		      struct strbuf *err)
{
	unsigned char pk[crypto_sign_ed25519_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_ed25519_SECRETKEYBYTES];
	const unsigned char *type, *file_pk, *file_sk, *text;
	size_t type_len, pk_len, sk_len, text_len;
	struct wire w = {file->priv, file->priv_len};
	uint32_t check1, check2;
	const char *why = NULL;

	if (!wire_u32(&w, &check1) || !wire_u32(&w, &check2) ||
	    !wire_string(&w, &type, &type_len) || !wire_string(&w, &file_pk, &pk_len) ||
	    !wire_string(&w, &file_sk, &sk_len) || !wire_string(&w, &text, &text_len))
		why = "truncated private section";
	else if (check1 != check2)
		why = "its check bytes differ";
	else if (!bytes_are(type, type_len, TYPE_ED25519) || pk_len != sizeof(pk) ||
		 sk_len != sizeof(sk))
		why = "the private section does not hold an Ed25519 key";
	for (unsigned char pad = 1; !why && w.left; pad++)
		if (w.p[0] != pad)
			why = "bad padding";
		else
			w.p++, w.left--;
	if (!why && (memcmp(file_pk, k->key.pk, sizeof(pk)) || memcmp(file_sk + 32, file_pk, 32)))
		why = "the private and public halves differ";
	if (!why) {
		crypto_sign_ed25519_seed_keypair(pk, sk, file_sk);
		if (memcmp(pk, file_pk, sizeof(pk)))
			why = "the secret does not produce its public key";
		else
			memcpy(k->secret, sk, sizeof(sk));
		sodium_memzero(sk, sizeof(sk));
	}
	if (why) {
		strbuf_addf(err, "key %s: damaged OpenSSH private key: %s", k->path, why);
		return -1;
	}
	if (!memchr(text, '\n', text_len) && !memchr(text, '\r', text_len) &&
	    !memchr(text, '\0', text_len))
		strbuf_add(comment, text, text_len);
	return 0;
}

/* ---- ssh-agent client (draft-miller-ssh-agent) ---- */

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* recv_all returns 0, -1 with errno, or -2 at end of stream. */
static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return -2;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* agent_call sends one request to the agent at sock_path and appends the
 * reply's payload to `reply`.  The connection is closed before returning. */
static int agent_call(const char *sock_path, const struct strbuf *req, struct strbuf *reply,
		      struct strbuf *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = AGENT_TIMEOUT_S};
	struct strbuf frame = STRBUF_INIT;
	unsigned char lenbuf[4];
	uint32_t n;
	int fd, rc, ret = -1;

	if (strlen(sock_path) >= sizeof(addr.sun_path)) {
		strbuf_addf(err, "ssh-agent socket path %s is too long", sock_path);
		return -1;
	}
	memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		strbuf_addf(err, "ssh-agent: socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		strbuf_addf(err, "cannot connect to ssh-agent at %s: %s; is the agent running?",
			    sock_path, strerror(errno));
		goto out;
	}
	put_string(&frame, req->buf, req->len);
	if (send_all(fd, frame.buf, frame.len) < 0) {
		strbuf_addf(err, "ssh-agent at %s: send: %s", sock_path, strerror(errno));
		goto out;
	}
	if ((rc = recv_all(fd, lenbuf, 4)) == 0) {
		n = (uint32_t)lenbuf[0] << 24 | (uint32_t)lenbuf[1] << 16 |
		    (uint32_t)lenbuf[2] << 8 | lenbuf[3];
		if (n == 0 || n > AGENT_REPLY_MAX) {
			strbuf_addf(err, "ssh-agent at %s sent a malformed reply", sock_path);
			goto out;
		}
		strbuf_grow(reply, n);
		rc = recv_all(fd, reply->buf + reply->len, n);
		if (rc == 0)
			strbuf_setlen(reply, reply->len + n);
	}
	if (rc == -2) {
		strbuf_addf(err, "ssh-agent at %s closed the connection without answering",
			    sock_path);
		goto out;
	}
	if (rc < 0) {
		strbuf_addf(err, "ssh-agent at %s: %s", sock_path,
			    errno == EAGAIN || errno == EWOULDBLOCK ? "no answer within 120 s"
								    : strerror(errno));
		goto out;
	}
	ret = 0;
out:
	strbuf_release(&frame);
	close(fd);
	return ret;
}

/* agent_find asks the agent for its identities and sets *found when one has
 * exactly `blob`; its comment is appended to `comment`. */
static int agent_find(const char *sock_path, const struct strbuf *blob, bool *found,
		      struct strbuf *comment, struct strbuf *err)
{
	struct strbuf req = STRBUF_INIT, reply = STRBUF_INIT;
	const unsigned char *kind, *id_blob, *id_comment;
	size_t id_blob_len, id_comment_len;
	struct wire w;
	uint32_t count;
	int ret = -1;

	*found = false;
	strbuf_addch(&req, AGENTC_REQUEST_IDENTITIES);
	if (agent_call(sock_path, &req, &reply, err) < 0)
		goto out;
	w.p = (const unsigned char *)reply.buf;
	w.left = reply.len;
	if (!wire_bytes(&w, 1, &kind) || kind[0] != AGENT_IDENTITIES_ANSWER ||
	    !wire_u32(&w, &count)) {
		strbuf_addf(err, "ssh-agent at %s would not list its keys", sock_path);
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (!wire_string(&w, &id_blob, &id_blob_len) ||
		    !wire_string(&w, &id_comment, &id_comment_len)) {
			strbuf_addf(err, "ssh-agent at %s sent a malformed key list", sock_path);
			goto out;
		}
		if (id_blob_len == blob->len && !memcmp(id_blob, blob->buf, blob->len)) {
			*found = true;
			if (!memchr(id_comment, '\n', id_comment_len) &&
			    !memchr(id_comment, '\r', id_comment_len) &&
			    !memchr(id_comment, '\0', id_comment_len))
				strbuf_add(comment, id_comment, id_comment_len);
			break;
		}
	}
	ret = 0;
out:
	strbuf_release(&req);
	strbuf_release(&reply);
	return ret;
}

/* agent_sign asks the agent to sign data with k and appends the signature
 * blob it returns. */
static int agent_sign(const struct sign_key *k, const struct strbuf *data, struct strbuf *sig,
		      struct strbuf *err)
{
	struct strbuf req = STRBUF_INIT, reply = STRBUF_INIT;
	const unsigned char *kind, *blob;
	size_t blob_len;
	struct wire w;
	int ret = -1;

	strbuf_addch(&req, AGENTC_SIGN_REQUEST);
	put_string(&req, k->blob.buf, k->blob.len);
	put_string(&req, data->buf, data->len);
	put_u32(&req, 0);
	if (agent_call(k->agent_socket, &req, &reply, err) < 0)
		goto out;
	w.p = (const unsigned char *)reply.buf;
	w.left = reply.len;
	if (!wire_bytes(&w, 1, &kind) || kind[0] != AGENT_SIGN_RESPONSE ||
	    !wire_string(&w, &blob, &blob_len)) {
		strbuf_addf(err, "ssh-agent refused to sign with key %s (%s); check that it is "
				 "still loaded (ssh-add -l) and, for a hardware key, that it was "
				 "touched",
			    k->fingerprint, k->path);
		goto out;
	}
	strbuf_add(sig, blob, blob_len);
	ret = 0;
out:
	strbuf_release(&req);
	strbuf_release(&reply);
	return ret;
}

/* ---- loading ---- */

struct sign_key *sign_key_load(const char *path, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT, pub_line = STRBUF_INIT, pub_blob = STRBUF_INIT;
	struct strbuf pub_comment = STRBUF_INIT, comment = STRBUF_INIT, pub_err = STRBUF_INIT;
	struct openssh_key file = {.decoded = STRBUF_INIT};
	struct sign_key *k = NULL;
	char *pub_path = xasprintf("%s.pub", path);
	const char *why = NULL, *reason, *sock;
	bool have_pub, pub_missing = false, found;
	int format;

	if (sodium_init() < 0) {
		strbuf_addstr(err, "libsodium could not be initialised");
		goto fail;
	}
	if (read_private_file(path, &text, err) < 0)
		goto fail;
	if ((format = openssh_key_parse(text.buf, text.len, &file, &why)) < 0) {
		strbuf_addf(err, "key %s: damaged OpenSSH private key: %s", path, why);
		goto fail;
	}
	k = xcalloc(1, sizeof(*k));
	strbuf_init(&k->blob, 0);
	strbuf_init(&k->public_line, 0);
	k->path = xstrdup(path);

	/* The .pub file is needed when the private file has no public header,
	 * and must agree with the header when both exist. */
	have_pub = read_pubkey_file(pub_path, &pub_line, &pub_blob, &pub_comment, &pub_missing,
				    &pub_err) == 0;
	if (format == 0 && !have_pub) {
		if (pub_missing)
			strbuf_addf(err, "key %s: not an OpenSSH-format private key, and %s is "
					 "missing; runbook needs the public key to find it in "
					 "ssh-agent",
				    path, pub_path);
		else
			strbuf_addf(err, "key %s: not an OpenSSH-format private key, and %s", path,
				    pub_err.buf);
		goto fail;
	}
	if (format == 1)
		strbuf_add(&k->blob, file.pub, file.pub_len);
	else
		strbuf_addbuf(&k->blob, &pub_blob);
	if (pubkey_parse((const unsigned char *)k->blob.buf, k->blob.len, &k->key) < 0) {
		strbuf_addf(err, "key %s: malformed public key", path);
		goto fail;
	}
	fingerprint_of((const unsigned char *)k->blob.buf, k->blob.len, k->fingerprint);
	if (format == 1 && have_pub &&
	    (pub_blob.len != k->blob.len || memcmp(pub_blob.buf, k->blob.buf, k->blob.len))) {
		char other[64];
		fingerprint_of((const unsigned char *)pub_blob.buf, pub_blob.len, other);
		strbuf_addf(err, "key %s: %s holds a different key (%s, not %s); recreate it with "
				 "ssh-keygen -y -f %s > %s",
			    path, pub_path, other, k->fingerprint, path, pub_path);
		goto fail;
	}
	if (k->key.kind == KEY_OTHER) {
		strbuf_addf(err, "key %s: type %s is not supported; runbook signs with Ed25519 keys "
				 "(runbook keygen, or ssh-keygen -t ed25519)",
			    path, k->key.type);
		goto fail;
	}

	if (format == 1 && !file.encrypted && k->key.kind == KEY_ED25519) {
		if (load_plain(k, &file, &comment, err) < 0)
			goto fail;
	} else {
		reason = format == 0			  ? "is not in OpenSSH format"
			 : k->key.kind == KEY_SK_ED25519 ? "is a hardware (FIDO) key"
							  : "is passphrase-protected";
		sock = getenv("SSH_AUTH_SOCK");
		if (!sock || !*sock) {
			strbuf_addf(err, "key %s %s, so runbook signs with it through ssh-agent, but "
					 "SSH_AUTH_SOCK is not set; start ssh-agent (eval "
					 "\"$(ssh-agent -s)\") and add the key with ssh-add %s",
				    path, reason, path);
			goto fail;
		}
		if (agent_find(sock, &k->blob, &found, &comment, &pub_err) < 0) {
			strbuf_addf(err, "key %s %s, so runbook signs with it through ssh-agent, but "
					 "%s",
				    path, reason, pub_err.buf);
			goto fail;
		}
		if (!found) {
			strbuf_addf(err, "key %s (%s) %s and is not loaded in ssh-agent (%s); add it "
					 "with ssh-add %s",
				    path, k->fingerprint, reason, sock, path);
			goto fail;
		}
		k->agent = true;
		k->agent_socket = xstrdup(sock);
		if (have_pub) {
			strbuf_reset(&comment);
			strbuf_addbuf(&comment, &pub_comment);
		}
	}
	pubkey_text(&k->public_line, k->key.type, (const unsigned char *)k->blob.buf, k->blob.len);
	if (comment.len)
		strbuf_addf(&k->public_line, " %s", comment.buf);
	goto out;
fail:
	sign_key_free(k);
	k = NULL;
out:
	strbuf_wipe(&text);
	openssh_key_release(&file);
	strbuf_release(&pub_line);
	strbuf_release(&pub_blob);
	strbuf_release(&pub_comment);
	strbuf_release(&comment);
	strbuf_release(&pub_err);
	free(pub_path);
	return k;
}

const char *sign_key_public(const struct sign_key *k)
{
	return k->public_line.buf;
}

const char *sign_key_fingerprint(const struct sign_key *k)
{
	return k->fingerprint;
}

int sign_key_uses_agent(const struct sign_key *k)
{
	return k->agent;
}

void sign_key_free(struct sign_key *k)
{
	if (!k)
		return;
	sodium_memzero(k->secret, sizeof(k->secret));
	strbuf_release(&k->blob);
	strbuf_release(&k->public_line);
	free(k->path);
	free(k->agent_socket);
	free(k);
}

/* ---- SSHSIG signing ---- */

/* signed_data builds what the key signs (PROTOCOL.sshsig section 3). */
static void signed_data(struct strbuf *sb, const char *namespace,
			const unsigned char digest[SHA512_LEN])
{
	strbuf_add(sb, SSHSIG_MAGIC, strlen(SSHSIG_MAGIC));
	put_cstring(sb, namespace);
	put_string(sb, "", 0);
	put_cstring(sb, SSHSIG_HASH);
	put_string(sb, digest, SHA512_LEN);
}

/* sig_blob_verify checks an SSH signature blob made by `key` over data.
 * Returns 0, or -1 with *why. */
static int sig_blob_verify(const struct pubkey *key, const unsigned char *sig, size_t sig_len,
			   const unsigned char *data, size_t len, const char **why)
{
	struct wire w = {sig, sig_len};
	const unsigned char *type, *raw;
	size_t type_len, raw_len;
	unsigned char flags, msg[32 + 1 + 4 + 32];
	uint32_t counter;

	if (!wire_string(&w, &type, &type_len) || !wire_string(&w, &raw, &raw_len) ||
	    raw_len != crypto_sign_ed25519_BYTES) {
		*why = "malformed signature";
		return -1;
	}
	if (!bytes_are(type, type_len, key->type)) {
		*why = "signature type does not match its key";
		return -1;
	}
	if (key->kind == KEY_ED25519) {
		if (w.left) {
			*why = "malformed signature";
			return -1;
		}
		if (crypto_sign_ed25519_verify_detached(raw, data, len, key->pk) == 0)
			return 0;
	} else if (key->kind == KEY_SK_ED25519) {
		/* What a FIDO authenticator signs: SHA-256(application), flags,
		 * counter, SHA-256(data) (OpenSSH's ssh-ed25519-sk.c). */
		if (!wire_u8(&w, &flags) || !wire_u32(&w, &counter) || w.left) {
			*why = "malformed signature";
			return -1;
		}
		crypto_hash_sha256(msg, key->application, key->application_len);
		msg[32] = flags;
		msg[33] = (unsigned char)(counter >> 24);
		msg[34] = (unsigned char)(counter >> 16);
		msg[35] = (unsigned char)(counter >> 8);
		msg[36] = (unsigned char)counter;
		crypto_hash_sha256(msg + 37, data, len);
		if (crypto_sign_ed25519_verify_detached(raw, msg, sizeof(msg), key->pk) == 0)
			return 0;
	} else {
		*why = "unsupported key type";
		return -1;
	}
	*why = "signature does not match the data";
	return -1;
}

int sign_digest(struct sign_key *k, const char *namespace,
		const unsigned char sha512_of_message[SHA512_LEN], struct strbuf *armored,
		struct strbuf *err)
{
	struct strbuf tosign = STRBUF_INIT, sig = STRBUF_INIT, blob = STRBUF_INIT;
	unsigned char raw[crypto_sign_ed25519_BYTES];
	const char *why;
	int ret = -1;

	if (!namespace || !*namespace) {
		strbuf_addstr(err, "sign: the signature namespace must not be empty");
		return -1;
	}
	signed_data(&tosign, namespace, sha512_of_message);
	if (k->agent) {
		if (agent_sign(k, &tosign, &sig, err) < 0)
			goto out;
		if (sig_blob_verify(&k->key, (const unsigned char *)sig.buf, sig.len,
				    (const unsigned char *)tosign.buf, tosign.len, &why) < 0) {
			strbuf_addf(err, "ssh-agent returned a signature that does not verify with "
					 "key %s (%s): %s",
				    k->fingerprint, k->path, why);
			goto out;
		}
	} else {
		crypto_sign_ed25519_detached(raw, NULL, (const unsigned char *)tosign.buf,
					     tosign.len, k->secret);
		put_cstring(&sig, TYPE_ED25519);
		put_string(&sig, raw, sizeof(raw));
	}
	strbuf_add(&blob, SSHSIG_MAGIC, strlen(SSHSIG_MAGIC));
	put_u32(&blob, SSHSIG_VERSION);
	put_string(&blob, k->blob.buf, k->blob.len);
	put_cstring(&blob, namespace);
	put_string(&blob, "", 0);
	put_cstring(&blob, SSHSIG_HASH);
	put_string(&blob, sig.buf, sig.len);

	strbuf_addstr(armored, SIG_BEGIN "\n");
	base64_wrapped(armored, (const unsigned char *)blob.buf, blob.len);
	strbuf_addstr(armored, SIG_END "\n");
	ret = 0;
out:
	strbuf_release(&tosign);
	strbuf_release(&sig);
	strbuf_release(&blob);
	return ret;
}

int sign_buffer(struct sign_key *k, const char *namespace, const void *data, size_t len,
		struct strbuf *armored, struct strbuf *err)
{
	unsigned char digest[SHA512_LEN];
	sha512_buffer(data, len, digest);
	return sign_digest(k, namespace, digest, armored, err);
}

/* ---- SSHSIG parsing and verification ---- */

/* A decoded signature; the pointers refer into `blob`. */
struct sshsig {
	struct strbuf blob;
	const unsigned char *pub;
	size_t pub_len;
	struct pubkey key;
	const unsigned char *ns;
	size_t ns_len;
	const unsigned char *hash;
	size_t hash_len;
	const unsigned char *sig;
	size_t sig_len;
};

static bool all_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", s[i]) || s[i] == '\0')
			return false;
	return true;
}

/* sshsig_decode dearmors and parses a signature and fills `info`. */
static int sshsig_decode(const char *armored, size_t len, struct sshsig *s,
			 struct sshsig_info *info, struct strbuf *err)
{
	size_t begin_len = strlen(SIG_BEGIN), end_len = strlen(SIG_END), reserved_len;
	const unsigned char *magic, *reserved;
	const char *p = armored;
	struct strbuf text = STRBUF_INIT;
	struct wire w;
	uint32_t version;
	long end;

	memset(info, 0, sizeof(*info));
	if (len == 0) {
		strbuf_addstr(err, "signature is empty");
		return -1;
	}
	if (len < begin_len || memcmp(p, SIG_BEGIN, begin_len)) {
		strbuf_addstr(err, "signature does not start with " SIG_BEGIN);
		return -1;
	}
	p += begin_len;
	len -= begin_len;
	if (len && *p == '\r')
		p++, len--;
	if (!len || *p != '\n') {
		strbuf_addstr(err, "signature: " SIG_BEGIN " must be a line of its own");
		return -1;
	}
	p++, len--;
	if ((end = find(p, len, SIG_END)) < 0 || (end > 0 && p[end - 1] != '\n')) {
		strbuf_addstr(err, "signature has no " SIG_END " line");
		return -1;
	}
	if (!all_blank(p + end + end_len, len - (size_t)end - end_len)) {
		strbuf_addstr(err, "signature has data after its " SIG_END " line");
		return -1;
	}
	if (base64_decode(p, (size_t)end, &s->blob) < 0) {
		strbuf_addstr(err, "signature armor holds invalid base64");
		return -1;
	}
	w.p = (const unsigned char *)s->blob.buf;
	w.left = s->blob.len;
	if (!wire_bytes(&w, strlen(SSHSIG_MAGIC), &magic) ||
	    memcmp(magic, SSHSIG_MAGIC, strlen(SSHSIG_MAGIC))) {
		strbuf_addstr(err, "signature blob does not start with SSHSIG");
		return -1;
	}
	if (!wire_u32(&w, &version)) {
		strbuf_addstr(err, "signature blob is truncated");
		return -1;
	}
	if (version != SSHSIG_VERSION) {
		strbuf_addf(err, "signature version %lu is not supported (only 1)",
			    (unsigned long)version);
		return -1;
	}
	if (!wire_string(&w, &s->pub, &s->pub_len) || !wire_string(&w, &s->ns, &s->ns_len) ||
	    !wire_string(&w, &reserved, &reserved_len) ||
	    !wire_string(&w, &s->hash, &s->hash_len) || !wire_string(&w, &s->sig, &s->sig_len)) {
		strbuf_addstr(err, "signature blob is truncated");
		return -1;
	}
	if (w.left) {
		strbuf_addstr(err, "signature blob has trailing data");
		return -1;
	}
	if (pubkey_parse(s->pub, s->pub_len, &s->key) < 0) {
		strbuf_addstr(err, "signature holds a malformed public key");
		return -1;
	}
	fingerprint_of(s->pub, s->pub_len, info->fingerprint);
	if (s->ns_len == 0) {
		strbuf_addstr(err, "signature namespace is empty");
		return -1;
	}
	if (s->ns_len >= sizeof(info->namespace)) {
		strbuf_addf(err, "signature namespace is longer than %zu bytes",
			    sizeof(info->namespace) - 1);
		return -1;
	}
	for (size_t i = 0; i < s->ns_len; i++)
		if (s->ns[i] < ' ' || s->ns[i] == 127) {
			strbuf_addstr(err, "signature namespace contains control characters");
			return -1;
		}
	memcpy(info->namespace, s->ns, s->ns_len);
	info->namespace[s->ns_len] = '\0';
	if (!bytes_are(s->hash, s->hash_len, "sha512") && !bytes_are(s->hash, s->hash_len, "sha256")) {
		strbuf_addstr(err, "signature hash algorithm is neither sha256 nor sha512");
		return -1;
	}
	pubkey_text(&text, s->key.type, s->pub, s->pub_len);
	if (text.len < sizeof(info->pubkey))
		memcpy(info->pubkey, text.buf, text.len + 1);
	strbuf_release(&text);
	return 0;
}

int sshsig_parse(const char *armored, size_t len, struct sshsig_info *info, struct strbuf *err)
{
	struct sshsig s = {.blob = STRBUF_INIT};
	struct sshsig_info local;
	int ret = sshsig_decode(armored, len, &s, info ? info : &local, err);
	strbuf_release(&s.blob);
	return ret;
}

/* ---- allowed_signers ---- */

struct signer_entry {
	unsigned line;
	char *principals;        /* pattern list, quotes removed */
	char *namespaces;        /* pattern list, or NULL for any */
	char *valid_after_text;  /* the option's value as written, or NULL */
	char *valid_before_text;
	int64_t valid_after;     /* seconds since the epoch, when the text is set */
	int64_t valid_before;
	bool cert_authority;     /* never matches: certificates are not supported */
	struct strbuf blob;      /* the public key blob */
};

struct allowed_signers {
	char *name;
	struct signer_entry *entries;
	size_t nr, alloc;
};

static const char *const key_types[] = {
	TYPE_ED25519,
	TYPE_SK_ED25519,
	"ssh-rsa",
	"ssh-dss",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"sk-ecdsa-sha2-nistp256@openssh.com",
	"ssh-ed25519-cert-v01@openssh.com",
	"sk-ssh-ed25519-cert-v01@openssh.com",
	"ssh-rsa-cert-v01@openssh.com",
	"ssh-dss-cert-v01@openssh.com",
	"ecdsa-sha2-nistp256-cert-v01@openssh.com",
	"ecdsa-sha2-nistp384-cert-v01@openssh.com",
	"ecdsa-sha2-nistp521-cert-v01@openssh.com",
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
};

static bool is_key_type(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (bytes_are((const unsigned char *)s, n, key_types[i]))
			return true;
	return false;
}

/* glob_match matches s against the pattern p[0, n): '*' any run, '?' any
 * one character, everything else itself (OpenSSH's match_pattern). */
static bool glob_match(const char *s, const char *p, size_t n)
{
	size_t si = 0, pi = 0, star = (size_t)-1, mark = 0, slen = strlen(s);
	while (si < slen) {
		if (pi < n && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < n && (p[pi] == '?' || p[pi] == s[si])) {
			si++;
			pi++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < n && p[pi] == '*')
		pi++;
	return pi == n;
}

/* match_list matches s against a comma-separated pattern list: -1 when a
 * negated (!) pattern matches, 1 when another one does, else 0 (OpenSSH's
 * match_pattern_list). */
static int match_list(const char *s, const char *list)
{
	int got = 0;
	while (*list) {
		size_t n = strcspn(list, ",");
		bool negated = list[0] == '!';
		if (glob_match(s, list + negated, n - negated)) {
			if (negated)
				return -1;
			got = 1;
		}
		list += n;
		if (*list == ',')
			list++;
	}
	return got;
}

/* parse_time reads YYYYMMDD[HHMM[SS]][Z]: UTC with Z, local time without,
 * as ssh-keygen does. */
static int parse_time(const char *s, size_t n, int64_t *out)
{
	int field[6] = {0, 1, 1, 0, 0, 0};
	bool utc = false;
	struct tm tm;
	time_t t;

	if (n && (s[n - 1] == 'Z' || s[n - 1] == 'z')) {
		utc = true;
		n--;
	}
	if (n != 8 && n != 12 && n != 14)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	field[0] = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	for (size_t f = 1; 4 + 2 * f <= n; f++)
		field[f] = (s[2 + 2 * f] - '0') * 10 + (s[3 + 2 * f] - '0');
	if (field[1] < 1 || field[1] > 12 || field[2] < 1 || field[2] > 31 || field[3] > 23 ||
	    field[4] > 59 || field[5] > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = field[0] - 1900;
	tm.tm_mon = field[1] - 1;
	tm.tm_mday = field[2];
	tm.tm_hour = field[3];
	tm.tm_min = field[4];
	tm.tm_sec = field[5];
	tm.tm_isdst = -1;
	t = utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* read_token returns the length of the token at s[0, n), which ends at a
 * blank outside double quotes; -1 when a quote is left open. */
static long read_token(const char *s, size_t n)
{
	bool quoted = false;
	size_t i = 0;
	for (; i < n && (quoted || !is_blank(s[i])); i++) {
		if (s[i] == '\\' && quoted && i + 1 < n && s[i + 1] == '"')
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
	}
	return quoted ? -1 : (long)i;
}

/* parse_options reads "name[="value"],..." into e; -1 with a message. */
static int parse_options(struct signer_entry *e, const char *s, size_t n, struct strbuf *msg)
{
	size_t i = 0;
	while (i < n) {
		size_t name_at = i, name_len;
		char **text = NULL;
		struct strbuf value = STRBUF_INIT;

		while (i < n && s[i] != '=' && s[i] != ',')
			i++;
		name_len = i - name_at;
		if (name_len == strlen("cert-authority") &&
		    !strncasecmp(s + name_at, "cert-authority", name_len)) {
			e->cert_authority = true;
		} else {
			if (name_len == strlen("namespaces") &&
			    !strncasecmp(s + name_at, "namespaces", name_len))
				text = &e->namespaces;
			else if (name_len == strlen("valid-after") &&
				 !strncasecmp(s + name_at, "valid-after", name_len))
				text = &e->valid_after_text;
			else if (name_len == strlen("valid-before") &&
				 !strncasecmp(s + name_at, "valid-before", name_len))
				text = &e->valid_before_text;
			if (!text) {
				strbuf_addf(msg, "unknown option '%.*s'", (int)name_len, s + name_at);
				return -1;
			}
			if (*text) {
				strbuf_addf(msg, "option '%.*s' given twice", (int)name_len,
					    s + name_at);
				return -1;
			}
			if (i + 1 >= n || s[i] != '=' || s[i + 1] != '"') {
				strbuf_addf(msg, "option '%.*s' needs a value in double quotes",
					    (int)name_len, s + name_at);
				return -1;
			}
			for (i += 2; i < n && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < n && s[i + 1] == '"')
					i++;
				strbuf_addch(&value, s[i]);
			}
			if (i == n) {
				strbuf_release(&value);
				strbuf_addf(msg, "option '%.*s': missing closing quote", (int)name_len,
					    s + name_at);
				return -1;
			}
			i++;
			*text = strbuf_detach(&value, NULL);
			if (text == &e->valid_after_text &&
			    parse_time(*text, strlen(*text), &e->valid_after) < 0) {
				strbuf_addf(msg, "valid-after=\"%s\" is not YYYYMMDD[HHMM[SS]][Z]",
					    *text);
				return -1;
			}
			if (text == &e->valid_before_text &&
			    parse_time(*text, strlen(*text), &e->valid_before) < 0) {
				strbuf_addf(msg, "valid-before=\"%s\" is not YYYYMMDD[HHMM[SS]][Z]",
					    *text);
				return -1;
			}
		}
		if (i < n && s[i] != ',') {
			strbuf_addf(msg, "unknown option '%.*s'", (int)(n - name_at), s + name_at);
			return -1;
		}
		if (i < n && ++i == n) {
			strbuf_addstr(msg, "options end with a comma");
			return -1;
		}
	}
	if (e->valid_after_text && e->valid_before_text && e->valid_before <= e->valid_after) {
		strbuf_addstr(msg, "valid-before is not after valid-after");
		return -1;
	}
	return 0;
}

static void signer_entry_release(struct signer_entry *e)
{
	free(e->principals);
	free(e->namespaces);
	free(e->valid_after_text);
	free(e->valid_before_text);
	strbuf_release(&e->blob);
}

static size_t skip_blanks(const char *s, size_t i, size_t n)
{
	while (i < n && is_blank(s[i]))
		i++;
	return i;
}

/* parse_signer_line parses one line; blank and comment lines add nothing.
 * Returns 0, or -1 with "NAME:LINE: reason" in err. */
static int parse_signer_line(struct allowed_signers *as, const char *s, size_t n, unsigned lineno,
			     struct strbuf *err)
{
	struct signer_entry e = {.line = lineno, .blob = STRBUF_INIT};
	struct strbuf msg = STRBUF_INIT;
	size_t i = skip_blanks(s, 0, n), at, principals_len, token_len;
	const char *principals, *why;
	char type[64];
	long len;

	if (i == n || s[i] == '#')
		return 0;
	if (memchr(s, '\0', n)) {
		strbuf_addstr(&msg, "contains a NUL byte");
		goto fail;
	}
	if (s[i] == '"') {
		const char *close = memchr(s + i + 1, '"', n - i - 1);
		if (!close) {
			strbuf_addstr(&msg, "principals: missing closing quote");
			goto fail;
		}
		principals = s + i + 1;
		principals_len = (size_t)(close - principals);
		i = (size_t)(close - s) + 1;
		if (i < n && !is_blank(s[i])) {
			strbuf_addstr(&msg, "principals: text after the closing quote");
			goto fail;
		}
	} else {
		principals = s + i;
		while (i < n && !is_blank(s[i]))
			i++;
		principals_len = (size_t)(s + i - principals);
	}
	if (principals_len == 0) {
		strbuf_addstr(&msg, "empty principals");
		goto fail;
	}
	if (principals_len >= 256) {
		strbuf_addstr(&msg, "principals field longer than 255 bytes");
		goto fail;
	}
	e.principals = xmemdupz(principals, principals_len);

	at = skip_blanks(s, i, n);
	if ((len = read_token(s + at, n - at)) < 0) {
		strbuf_addstr(&msg, "missing closing quote");
		goto fail;
	}
	if (len == 0) {
		strbuf_addstr(&msg, "missing key");
		goto fail;
	}
	if (!is_key_type(s + at, (size_t)len)) {
		if (parse_options(&e, s + at, (size_t)len, &msg) < 0)
			goto fail;
		at = skip_blanks(s, at + (size_t)len, n);
		for (len = 0; at + (size_t)len < n && !is_blank(s[at + (size_t)len]); len++)
			;
		if (len == 0) {
			strbuf_addstr(&msg, "missing key");
			goto fail;
		}
		if (!is_key_type(s + at, (size_t)len)) {
			strbuf_addf(&msg, "unknown key type '%.*s'", (int)len, s + at);
			goto fail;
		}
	}
	memcpy(type, s + at, (size_t)len);
	type[len] = '\0';
	at = skip_blanks(s, at + (size_t)len, n);
	for (token_len = 0; at + token_len < n && !is_blank(s[at + token_len]); token_len++)
		;
	if (token_len == 0) {
		strbuf_addf(&msg, "missing key data after %s", type);
		goto fail;
	}
	if (decode_key_text(type, s + at, token_len, &e.blob, &why) < 0) {
		strbuf_addf(&msg, "invalid key: %s", why);
		goto fail;
	}
	ALLOC_GROW(as->entries, as->nr + 1, as->alloc);
	as->entries[as->nr++] = e;
	return 0;
fail:
	strbuf_addf(err, "%s:%u: %s", as->name, lineno, msg.buf);
	strbuf_release(&msg);
	signer_entry_release(&e);
	return -1;
}

struct allowed_signers *allowed_signers_parse(const char *name, const char *text, size_t len,
					      struct strbuf *err)
{
	struct allowed_signers *as = xcalloc(1, sizeof(*as));
	unsigned lineno = 0;
	size_t at = 0;

	as->name = xstrdup(name);
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - text) : len, line_len = end - at;
		if (line_len && text[at + line_len - 1] == '\r')
			line_len--;
		if (parse_signer_line(as, text + at, line_len, ++lineno, err) < 0) {
			allowed_signers_free(as);
			return NULL;
		}
		at = end + 1;
	}
	return as;
}

struct allowed_signers *allowed_signers_load(const char *path, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT;
	struct allowed_signers *as = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0 || strbuf_read_fd(&text, fd) < 0)
		strbuf_addf(err, "allowed signers %s: %s", path, strerror(errno));
	else
		as = allowed_signers_parse(path, text.buf, text.len, err);
	if (fd >= 0)
		close(fd);
	strbuf_release(&text);
	return as;
}

void allowed_signers_free(struct allowed_signers *as)
{
	if (!as)
		return;
	for (size_t i = 0; i < as->nr; i++)
		signer_entry_release(&as->entries[i]);
	free(as->entries);
	free(as->name);
	free(as);
}

/* signers_check finds an entry allowing the key for principal (or any) in
 * namespace at time `now`, and names the principal in info. */
static int signers_check(const struct allowed_signers *as, const struct sshsig *s,
			 const char *principal, const char *namespace, int64_t now,
			 struct sshsig_info *info, struct strbuf *err)
{
	const struct signer_entry *listed_for_other = NULL, *ns_refused = NULL;
	const struct signer_entry *too_early = NULL, *too_late = NULL;

	for (size_t i = 0; i < as->nr; i++) {
		const struct signer_entry *e = &as->entries[i];
		if (e->cert_authority || e->blob.len != s->pub_len ||
		    memcmp(e->blob.buf, s->pub, s->pub_len))
			continue;
		if (principal && match_list(principal, e->principals) != 1) {
			listed_for_other = e;
			continue;
		}
		if (e->namespaces && match_list(namespace, e->namespaces) != 1) {
			ns_refused = e;
			continue;
		}
		if (e->valid_after_text && now < e->valid_after) {
			too_early = e;
			continue;
		}
		if (e->valid_before_text && now > e->valid_before) {
			too_late = e;
			continue;
		}
		snprintf(info->principal, sizeof(info->principal), "%s",
			 principal ? principal : e->principals);
		return 0;
	}
	if (ns_refused)
		strbuf_addf(err, "key %s may not sign namespace '%s': %s:%u allows only "
				 "namespaces=\"%s\"",
			    info->fingerprint, namespace, as->name, ns_refused->line,
			    ns_refused->namespaces);
	else if (too_late)
		strbuf_addf(err, "key %s has expired: %s:%u says valid-before=\"%s\"",
			    info->fingerprint, as->name, too_late->line, too_late->valid_before_text);
	else if (too_early)
		strbuf_addf(err, "key %s is not valid yet: %s:%u says valid-after=\"%s\"",
			    info->fingerprint, as->name, too_early->line,
			    too_early->valid_after_text);
	else if (listed_for_other)
		strbuf_addf(err, "key %s is not in allowed_signers for principal %s (%s:%u lists "
				 "it for %s)",
			    info->fingerprint, principal, as->name, listed_for_other->line,
			    listed_for_other->principals);
	else if (principal)
		strbuf_addf(err, "key %s is not in allowed_signers for principal %s (%s)",
			    info->fingerprint, principal, as->name);
	else
		strbuf_addf(err, "key %s is not in allowed_signers (%s)", info->fingerprint,
			    as->name);
	return -1;
}

int sshsig_verify(const char *armored, size_t armored_len,
		  const unsigned char sha512_of_message[SHA512_LEN], const char *namespace,
		  const struct allowed_signers *as, const char *principal,
		  struct sshsig_info *info, struct strbuf *err)
{
	struct sshsig s = {.blob = STRBUF_INIT};
	struct strbuf data = STRBUF_INIT;
	struct sshsig_info local;
	const char *why;
	int ret = -1;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (!namespace || !*namespace) {
		strbuf_addstr(err, "verify: no signature namespace given");
		return -1;
	}
	if (principal && strlen(principal) >= sizeof(info->principal)) {
		strbuf_addstr(err, "verify: principal name longer than 255 bytes");
		return -1;
	}
	if (sshsig_decode(armored, armored_len, &s, info, err) < 0)
		goto out;
	if (strcmp(info->namespace, namespace)) {
		strbuf_addf(err, "signature namespace is '%s', expected '%s'", info->namespace,
			    namespace);
		goto out;
	}
	if (!bytes_are(s.hash, s.hash_len, SSHSIG_HASH)) {
		strbuf_addstr(err, "signature was made with hash sha256; runbook verifies sha512 "
				   "signatures only");
		goto out;
	}
	if (s.key.kind == KEY_OTHER) {
		strbuf_addf(err, "signature key type %s is not supported; runbook verifies Ed25519 "
				 "signatures",
			    s.key.type);
		goto out;
	}
	signed_data(&data, namespace, sha512_of_message);
	if (sig_blob_verify(&s.key, s.sig, s.sig_len, (const unsigned char *)data.buf, data.len,
			    &why) < 0) {
		strbuf_addstr(err, why);
		goto out;
	}
	if (as && signers_check(as, &s, principal, namespace, (int64_t)time(NULL), info, err) < 0)
		goto out;
	ret = 0;
out:
	strbuf_release(&s.blob);
	strbuf_release(&data);
	return ret;
}
