/* sign.h - hashes, Ed25519 keys and SSHSIG signatures (libsodium).
 *
 * This is the only module that includes libsodium.  It gives three things:
 *
 * Hashes.  SHA-256 and SHA-512 contexts are plain structs so that callers can
 * keep them on the stack or inside their own structs; call *_init() before
 * the first update.
 *
 * Keys.  sign_keygen() writes an OpenSSH Ed25519 key pair that ssh-keygen
 * and ssh accept as their own.  sign_key_load() opens a private key file:
 * an unencrypted Ed25519 key signs here, in memory; a passphrase-protected
 * key, or a hardware key (sk-ssh-ed25519@openssh.com), signs through the
 * user's ssh-agent (SSH_AUTH_SOCK), so runbook never asks for a passphrase.
 *
 *	struct strbuf err = STRBUF_INIT, sig = STRBUF_INIT;
 *	struct sign_key *k = sign_key_load("/home/ops/.ssh/id_ed25519", &err);
 *	if (!k || sign_buffer(k, "runbook-log", data, len, &sig, &err) < 0)
 *		... report err.buf ...
 *	sign_key_free(k);
 *
 * Signatures.  sign_digest()/sign_buffer() produce OpenSSH's SSHSIG armored
 * format (PROTOCOL.sshsig, hash "sha512"), byte for byte what
 * `ssh-keygen -Y sign -n NAMESPACE` prints for the same key and message, so
 * an auditor checks them with `ssh-keygen -Y verify` and nothing of ours.
 * sshsig_verify() checks one against an allowed_signers file in ssh-keygen's
 * format (see ssh-keygen(1), ALLOWED SIGNERS).
 *
 * Every function that can fail returns 0 on success or -1 with one complete,
 * user-actionable message appended to `err`; nothing here prints or exits.
 * Secret key bytes never leave this module and are wiped when released.
 */
#ifndef RUNBOOK_SIGN_H
#define RUNBOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64
#define SHA512_LEN 64

/* The namespace runbook signs its journals in. */
#define SIGN_NAMESPACE_LOG "runbook-log"

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

/* Opaque storage for libsodium's crypto_hash_sha512_state (checked in sign.c). */
struct sha512 {
	_Alignas(16) unsigned char opaque[256];
};

void sha512_init(struct sha512 *ctx);
void sha512_update(struct sha512 *ctx, const void *data, size_t len);
/* sha512_final writes the digest and wipes the context. */
void sha512_final(struct sha512 *ctx, unsigned char out[SHA512_LEN]);
/* sha512_buffer is the one-shot form. */
void sha512_buffer(const void *data, size_t len, unsigned char out[SHA512_LEN]);

/* ---- keys ---- */

/* sign_keygen creates a new Ed25519 key pair: the private key, unencrypted,
 * in OpenSSH's format ("-----BEGIN OPENSSH PRIVATE KEY-----") at `path` with
 * mode 0600, and the public key line "ssh-ed25519 AAAA... comment" at
 * `path`.pub with mode 0644.  Both files are created with O_EXCL|O_NOFOLLOW:
 * an existing file or a symbolic link at either path is refused and nothing
 * is written.  `comment` may be NULL (no comment); it must not contain a
 * newline.  Returns 0, or -1 with a message; on failure neither file is left
 * behind.  No file descriptor stays open. */
int sign_keygen(const char *path, const char *comment, struct strbuf *err);

/* A loaded signing key: either the secret itself or a reference to an
 * identity held by ssh-agent.  Opaque; released with sign_key_free(). */
struct sign_key;

/* sign_key_load opens the private key file at `path` (O_NOFOLLOW) and
 * refuses it unless it is a regular file owned by the current user with no
 * permission bits for group or others, the same rule ssh applies.
 *
 * An unencrypted Ed25519 key is read into memory.  A passphrase-protected
 * key, a hardware key (sk-ssh-ed25519@openssh.com) or a private key file in
 * another format signs through ssh-agent: its public key is taken from the
 * private file's header, or from `path`.pub, and must be one of the
 * identities the agent at SSH_AUTH_SOCK holds; the agent is asked again at
 * each signature.  Only Ed25519 keys (plain or sk-) are accepted, because
 * those are the only ones `runbook verify` can check.
 *
 * Returns the key (free with sign_key_free()), or NULL with a message, e.g.
 * "key /home/ops/.ssh/id_ed25519: readable by group or others (mode 0644);
 * run chmod 600 /home/ops/.ssh/id_ed25519" or "... is not loaded in
 * ssh-agent; add it with ssh-add ...".  No file descriptor stays open. */
struct sign_key *sign_key_load(const char *path, struct strbuf *err);

/* sign_key_public returns the public key line, "ssh-ed25519 AAAA... comment"
 * (no newline; no comment when the key has none).  Owned by the key. */
const char *sign_key_public(const struct sign_key *k);

/* sign_key_fingerprint returns "SHA256:" and the unpadded base64 of the
 * public key blob's SHA-256, exactly as `ssh-keygen -l` prints it.  Owned
 * by the key. */
const char *sign_key_fingerprint(const struct sign_key *k);

/* sign_key_uses_agent tells whether signatures go through ssh-agent. */
int sign_key_uses_agent(const struct sign_key *k);

/* sign_key_free wipes the secret and frees the key; NULL is a no-op. */
void sign_key_free(struct sign_key *k);

/* sign_read_pubkey_file reads a one-line OpenSSH public key file ("TYPE
 * BASE64 [COMMENT]") and appends the line, without its newline, to
 * out_line.  Returns 0, or -1 with a message when the file cannot be read or
 * holds no well-formed key.  No file descriptor stays open. */
int sign_read_pubkey_file(const char *path, struct strbuf *out_line, struct strbuf *err);

/* ---- SSHSIG ---- */

/* sign_digest signs a message, given as its SHA-512, in `namespace` (not
 * empty, e.g. SIGN_NAMESPACE_LOG) and appends the armored signature
 * "-----BEGIN SSH SIGNATURE-----\n" ... "-----END SSH SIGNATURE-----\n"
 * (base64 wrapped at 70 columns) to `armored`.  For an agent key, the agent
 * is contacted now, and its answer is checked against the public key before
 * it is used.  Returns 0, or -1 with a message and `armored` unchanged. */
int sign_digest(struct sign_key *k, const char *namespace,
		const unsigned char sha512_of_message[SHA512_LEN], struct strbuf *armored,
		struct strbuf *err);

/* sign_buffer is sign_digest over the SHA-512 of data[0, len). */
int sign_buffer(struct sign_key *k, const char *namespace, const void *data, size_t len,
		struct strbuf *armored, struct strbuf *err);

/* A parsed allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS): one entry
 * per line, "PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]".  PRINCIPALS is
 * a comma-separated list of patterns (* and ?, ! negates), optionally in
 * double quotes.  OPTIONS are namespaces="PATTERN,...",
 * valid-after="YYYYMMDD[HHMM[SS]][Z]", valid-before="..." and
 * cert-authority; certificates are not supported, so a cert-authority line
 * never matches.  Blank lines and lines starting with '#' are ignored.
 * Opaque; released with allowed_signers_free(). */
struct allowed_signers;

/* allowed_signers_load reads and parses the whole file.  Returns the list
 * (free with allowed_signers_free()), or NULL with a message that names the
 * file and line, e.g. "signers.txt:3: unknown option 'foo'".  No file
 * descriptor stays open. */
struct allowed_signers *allowed_signers_load(const char *path, struct strbuf *err);

/* allowed_signers_parse is allowed_signers_load on text already in memory;
 * `name` is used in messages in place of the file name. */
struct allowed_signers *allowed_signers_parse(const char *name, const char *text, size_t len,
					      struct strbuf *err);

void allowed_signers_free(struct allowed_signers *as);

/* What a signature says about itself, and who it was verified for. */
struct sshsig_info {
	char principal[256];   /* verify: the principal asked for, or the matching
				  line's principals field; "" otherwise */
	char fingerprint[128]; /* "SHA256:..." of the signing key */
	char namespace[64];    /* the namespace the signature was made in */
	char pubkey[256];      /* "TYPE BASE64" of the signing key; "" when the key
				  is too long to fit (RSA) */
};

/* sshsig_parse checks only the structure of an armored signature (header,
 * base64, SSHSIG blob, version 1, key and signature encodings) and fills
 * `info` (principal is ""). Safe on any input.  Returns 0, or -1 with a
 * message saying what is malformed. */
int sshsig_parse(const char *armored, size_t len, struct sshsig_info *info, struct strbuf *err);

/* sshsig_verify returns 0 when `armored` is a valid SSHSIG signature by an
 * Ed25519 key (plain or sk-) over the message whose SHA-512 is given, made
 * in `namespace` with hash sha512, and, when `as` is non-NULL, that key is
 * listed in it for `principal` (or for any principal when `principal` is
 * NULL) with options permitting this namespace now.  `as` NULL checks only
 * the signature itself.  Otherwise -1 with the reason, e.g. "signature
 * namespace is 'file', expected 'runbook-log'", "signature does not match
 * the data", "key SHA256:... is not in allowed_signers for principal
 * alice@example.com".  `info` (may be NULL) is filled as far as parsing
 * got. */
int sshsig_verify(const char *armored, size_t armored_len,
		  const unsigned char sha512_of_message[SHA512_LEN], const char *namespace,
		  const struct allowed_signers *as, const char *principal,
		  struct sshsig_info *info, struct strbuf *err);

#endif
