/* fuzz_sshsig.c - armored SSHSIG signatures parsed and verified.
 *
 * Input: the bytes of a signature file.  Each is parsed, then verified over
 * a fixed message ("runbook fuzz\n") in namespace runbook-log: alone, and
 * against a fixed allowed_signers list for any principal and for one.  The
 * seeds in tests/fuzz/corpus/sshsig were made with `ssh-keygen -Y sign` by
 * the key listed first below (docs/fuzzing.md). */
#include <stdlib.h>

#include "fuzz.h"
#include "sign/sign.h"
#include "base/strbuf.h"

static const char signers_text[] =
	"fuzz@example.com namespaces=\"runbook-log\" ssh-ed25519 "
	"AAAAC3NzaC1lZDI1NTE5AAAAIND1iMrj65mEiGZCORyflTPpRz/jTQFHucRzw1L7jPqw fuzz\n"
	"\"ops@example.com,!mallory@*\" sk-ssh-ed25519@openssh.com "
	"AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA11UHVOCACl0jfu9YJgNXZrmz5aFYaKlAqyiZWHiOOwAAAABHNzaDo=\n"
	"*@example.com valid-after=\"20200101\",valid-before=\"20991231235959Z\" ssh-ed25519 "
	"AAAAC3NzaC1lZDI1NTE5AAAAIF97XGAYQrbIlcI6xAGM5vXNRMDC3QIHwnLWrRG6wd7H\n"
	"ca@example.com cert-authority ssh-ed25519 "
	"AAAAC3NzaC1lZDI1NTE5AAAAIND1iMrj65mEiGZCORyflTPpRz/jTQFHucRzw1L7jPqw\n";

static struct allowed_signers *signers;
static unsigned char digest[SHA512_LEN];

static void setup(void)
{
	struct strbuf err = STRBUF_INIT;

	signers = allowed_signers_parse("fuzz-signers", signers_text, strlen(signers_text), &err);
	if (!signers)
		abort();
	sha512_buffer("runbook fuzz\n", 13, digest);
	strbuf_release(&err);
}

/* Every field of info is a terminated string whatever the input. */
static void check_info(const struct sshsig_info *info)
{
	if (!memchr(info->principal, '\0', sizeof(info->principal)) ||
	    !memchr(info->fingerprint, '\0', sizeof(info->fingerprint)) ||
	    !memchr(info->namespace, '\0', sizeof(info->namespace)) ||
	    !memchr(info->pubkey, '\0', sizeof(info->pubkey)))
		abort();
}

static int verify(const uint8_t *data, size_t size, const struct allowed_signers *as,
		  const char *principal)
{
	struct strbuf err = STRBUF_INIT;
	struct sshsig_info info;

	memset(&info, 'x', sizeof(info));
	int ret = sshsig_verify((const char *)data, size, digest, SIGN_NAMESPACE_LOG, as, principal,
				&info, &err);
	if (ret < 0 && !err.len)
		abort();
	check_info(&info);
	strbuf_release(&err);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf err = STRBUF_INIT;
	struct sshsig_info info;

	if (!signers)
		setup();
	memset(&info, 'x', sizeof(info));
	int parsed = sshsig_parse((const char *)data, size, &info, &err);
	if (parsed < 0 && !err.len)
		abort();
	check_info(&info);
	strbuf_release(&err);

	/* what does not parse never verifies */
	if (verify(data, size, NULL, NULL) == 0 && parsed < 0)
		abort();
	if (verify(data, size, signers, NULL) == 0 && parsed < 0)
		abort();
	if (verify(data, size, signers, "fuzz@example.com") == 0 && parsed < 0)
		abort();
	return 0;
}
