/* sign.h - hashes, Ed25519 keys and SSHSIG signatures (libsodium).
 *
 * This is the only module that includes libsodium.  The SHA-256 context is
 * a plain struct so that callers can keep it on the stack or inside their
 * own structs; sha256_init() must be called before the first update.
 */
#ifndef RUNBOOK_SIGN_H
#define RUNBOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

/* Opaque storage for libsodium's crypto_hash_sha256_state (checked in sign.c). */
struct sha256 {
	_Alignas(16) unsigned char opaque[128];
};

void sha256_init(struct sha256 *ctx);
void sha256_update(struct sha256 *ctx, const void *data, size_t len);
void sha256_final(struct sha256 *ctx, unsigned char out[SHA256_LEN]);
/* sha256_hex writes 64 lower-case hex digits and a NUL into out. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
void hex_encode(const unsigned char *bin, size_t len, char *out);

#endif
