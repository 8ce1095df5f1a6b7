/* fuzz_verify.c - the journal reader: runbook verify and report on any bytes.
 *
 * Input: the journal, then NUL, then LOG.sig (absent when there is no NUL).
 * Checks the promises of verify.h: a verdict always comes back, a broken
 * line lies inside the file, "verified complete" only for a journal that
 * reached run.end, and both report formats render. */
#include <stdlib.h>

#include "fuzz.h"
#include "audit/report.h"
#include "sign/sign.h"
#include "base/strbuf.h"
#include "audit/verify.h"

static struct allowed_signers *signers;

static void setup(void)
{
	static const char list[] =
		"alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKI0OSTEIsVTbzmDg6CKEC/BgfJ6iFsfFrqQ+CKo+V+n\n";
	struct strbuf err = STRBUF_INIT;
	if (!signers)
		signers = allowed_signers_parse("fuzz", list, sizeof(list) - 1, &err);
	strbuf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_span rest = { (const char *)data, size }, journal;
	bool has_sig = fuzz_cut(&rest, '\0', &journal);
	struct verify_opts opts = VERIFY_OPTS_INIT;
	struct strbuf out = STRBUF_INIT;

	setup();
	for (int with_signers = 0; with_signers < 2; with_signers++) {
		struct verify_result res;
		opts.signers = with_signers ? signers : NULL;
		verify_buffer("fuzz.jsonl", journal.p, journal.len, has_sig ? rest.p : NULL,
			      has_sig ? rest.len : 0, &opts, &res);
		if (res.verdict == VERIFY_BROKEN && (res.broken_line < 1 || res.broken_line > res.lines + 1))
			abort();
		if (res.verdict == VERIFY_COMPLETE && (!res.complete || res.logsig != LOGSIG_VALID))
			abort();
		strbuf_reset(&out);
		verify_headline(&res, &out);
		if (!out.len)
			abort();
		verify_result_json(&res, &out);
		report_render(&res, REPORT_HTML, &out);
		report_render(&res, REPORT_MARKDOWN, &out);
		verify_result_release(&res);
	}
	strbuf_release(&out);
	return 0;
}
