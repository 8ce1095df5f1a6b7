/* sign.c - hashes and signatures with libsodium. */
#include "sign.h"

#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(struct sha256),
	       "struct sha256 too small for libsodium's state");

void sha256_init(struct sha256 *ctx)
{
	crypto_hash_sha256_init((crypto_hash_sha256_state *)ctx->opaque);
}

void sha256_update(struct sha256 *ctx, const void *data, size_t len)
{
	crypto_hash_sha256_update((crypto_hash_sha256_state *)ctx->opaque, data, len);
}

void sha256_final(struct sha256 *ctx, unsigned char out[SHA256_LEN])
{
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
	crypto_hash_sha256(md, data, len);
	hex_encode(md, SHA256_LEN, out);
}
