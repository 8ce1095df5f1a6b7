/* fuzz_allowed_signers.c - allowed_signers files parsed, then consulted.
 *
 * Input: the bytes of an allowed_signers file.  When it parses, two fixed
 * signatures are verified against it, each for any principal and for one:
 * an Ed25519 signature over "runbook fuzz\n" and a hardware-key
 * (sk-ssh-ed25519) signature over "runbook sk vector\n", both in namespace
 * runbook-log.  Their keys are in tests/fuzz/corpus/allowed_signers. */
#include <stdlib.h>

#include "fuzz.h"
#include "sign/sign.h"
#include "base/strbuf.h"

static const char ed25519_sig[] =
	"-----BEGIN SSH SIGNATURE-----\n"
	"U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAg0PWIyuPrmYSIZkI5HJ+VM+lHP+\n"
	"NNAUe5xHPDUvuM+rAAAAALcnVuYm9vay1sb2cAAAAAAAAABnNoYTUxMgAAAFMAAAALc3No\n"
	"LWVkMjU1MTkAAABAZHx9sqKJKQn7GPBHPguFAMAChwxM9G+pOxaVDlvb8u63KKBCD1NDdy\n"
	"bpIuL72HTxfUdHoOsxPbZfjPl8vuWFCQ==\n"
	"-----END SSH SIGNATURE-----\n";

static const char sk_sig[] =
	"-----BEGIN SSH SIGNATURE-----\n"
	"U1NIU0lHAAAAAQAAAEoAAAAac2stc3NoLWVkMjU1MTlAb3BlbnNzaC5jb20AAAAgDXVQdU\n"
	"4IAKXSN+71gmA1dmubPloVhoqUCrKJlYeI47AAAAAEc3NoOgAAAAtydW5ib29rLWxvZwAA\n"
	"AAAAAAAGc2hhNTEyAAAAZwAAABpzay1zc2gtZWQyNTUxOUBvcGVuc3NoLmNvbQAAAEB03+\n"
	"8RR/D7rs0jI5WJ1nIlJHGMtSJNB5uWZlDrnMjDn0cUFm+QR5X5Tm67ZOXd8iOTszHgQIPc\n"
	"+eVjNMeSOvADAQAAAAc=\n"
	"-----END SSH SIGNATURE-----\n";

static unsigned char ed25519_digest[SHA512_LEN], sk_digest[SHA512_LEN];
static int ready;

static void verify(const char *sig, const unsigned char *digest, const struct allowed_signers *as,
		   const char *principal)
{
	struct strbuf err = STRBUF_INIT;
	struct sshsig_info info;

	if (sshsig_verify(sig, strlen(sig), digest, SIGN_NAMESPACE_LOG, as, principal, &info, &err) < 0
	    && !err.len)
		abort();
	if (!memchr(info.principal, '\0', sizeof(info.principal)))
		abort();
	strbuf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf err = STRBUF_INIT;

	if (!ready) {
		sha512_buffer("runbook fuzz\n", 13, ed25519_digest);
		sha512_buffer("runbook sk vector\n", 18, sk_digest);
		ready = 1;
	}
	struct allowed_signers *as = allowed_signers_parse("fuzz", (const char *)data, size, &err);
	if (!as) {
		if (!err.len)
			abort(); /* a refusal always says why */
	} else {
		if (err.len)
			abort();
		verify(ed25519_sig, ed25519_digest, as, NULL);
		verify(ed25519_sig, ed25519_digest, as, "fuzz@example.com");
		verify(sk_sig, sk_digest, as, NULL);
		verify(sk_sig, sk_digest, as, "ops@example.com");
		allowed_signers_free(as);
	}
	strbuf_release(&err);
	return 0;
}
