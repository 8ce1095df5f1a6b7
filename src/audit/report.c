/* report.c - the auditor's report: one self-contained HTML page, or the
 * same content in Markdown. */
#include "audit/report.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int report_format_parse(const char *name, enum report_format *fmt)
{
	if (!strcmp(name, "html")) {
		*fmt = REPORT_HTML;
		return 0;
	}
	if (!strcmp(name, "md") || !strcmp(name, "markdown")) {
		*fmt = REPORT_MARKDOWN;
		return 0;
	}
	return -1;
}

/* ---------- shared ---------- */

static void duration(struct strbuf *out, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		strbuf_addf(out, "%lld ms", (long long)ms);
	else if (ms < 60000)
		strbuf_addf(out, "%.1f s", (double)ms / 1000.0);
	else if (ms < 3600000)
		strbuf_addf(out, "%lld min %02lld s", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
	else
		strbuf_addf(out, "%lld h %02lld min", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
}

/* severity of a verdict: 0 fine, 1 look at it, 2 went wrong */
static int severity(const char *verdict)
{
	if (!verdict)
		return 2;
	if (!strcmp(verdict, "passed"))
		return 0;
	if (!strcmp(verdict, "skipped") || !strcmp(verdict, "accepted") || !strcmp(verdict, "not run"))
		return 1;
	return 2;
}

static const char *verdict_class(const char *verdict)
{
	if (!verdict)
		return "v-open";
	if (!strcmp(verdict, "passed"))
		return "v-passed";
	if (!strcmp(verdict, "deviated"))
		return "v-deviated";
	if (!strcmp(verdict, "skipped") || !strcmp(verdict, "not run"))
		return "v-skipped";
	if (!strcmp(verdict, "accepted"))
		return "v-accepted";
	if (!strcmp(verdict, "interrupted"))
		return "v-interrupted";
	return "v-failed";
}

static const char *verdict_fill(const char *verdict)
{
	const char *c = verdict_class(verdict);
	if (!strcmp(c, "v-passed"))
		return "#2da44e";
	if (!strcmp(c, "v-deviated"))
		return "#d4750b";
	if (!strcmp(c, "v-skipped"))
		return "#8c959f";
	if (!strcmp(c, "v-accepted"))
		return "#bf8700";
	if (!strcmp(c, "v-interrupted"))
		return "#8250df";
	if (!strcmp(c, "v-open"))
		return "#57606a";
	return "#cf222e";
}

static const char *verdict_banner(enum verify_verdict v)
{
	switch (v) {
	case VERIFY_COMPLETE: return "VERIFIED COMPLETE";
	case VERIFY_INCOMPLETE: return "INCOMPLETE";
	case VERIFY_UNSIGNED: return "UNSIGNED";
	case VERIFY_BROKEN: return "BROKEN";
	}
	return "?";
}

static const char *verdict_meaning(const struct verify_result *res)
{
	switch (res->verdict) {
	case VERIFY_COMPLETE:
		return "Every line is chained to the one before it and covered by a valid signature, and the "
		       "journal runs from run.start to run.end.";
	case VERIFY_INCOMPLETE:
		return "What the journal holds is intact, but it does not prove a finished run.";
	case VERIFY_UNSIGNED:
		return "The hash chain is intact and the run reached its end, but nothing signed the journal: "
		       "anyone who could write the file could have rewritten it whole.";
	case VERIFY_BROKEN:
		return "The journal was changed after it was written, or is not a journal. Only the lines before "
		       "the break are shown below, and even those are evidence only as far as they are signed.";
	}
	return "";
}

static const char *event_word(enum audit_event_kind k)
{
	switch (k) {
	case AUDIT_DEVIATION: return "deviation";
	case AUDIT_FAILURE: return "failure";
	case AUDIT_SKIP: return "skip";
	case AUDIT_ACCEPT: return "accepted";
	case AUDIT_DECISION: return "decision";
	case AUDIT_RESUME: return "resume";
	case AUDIT_TARGET: return "target";
	case AUDIT_MONITOR: return "lock monitor";
	}
	return "?";
}

/* time span of the run, for the timeline */
struct span {
	int64_t t0, t1;
};

static bool step_times(const struct audit_summary *s, const struct audit_step *st, int64_t *from, int64_t *to)
{
	int64_t a = verify_parse_time(st->started), b = verify_parse_time(st->ended_at);
	if (a < 0 && b >= 0)
		a = b - st->duration_ms;
	if (a < 0)
		return false;
	if (b < 0)
		b = verify_parse_time(s->last_ts);
	if (b < a)
		b = a;
	*from = a;
	*to = b;
	return true;
}

static bool run_span(const struct audit_summary *s, struct span *sp)
{
	bool any = false;
	sp->t0 = verify_parse_time(s->started);
	sp->t1 = sp->t0;
	for (size_t i = 0; i < s->nsteps; i++) {
		int64_t a, b;
		if (!step_times(s, &s->steps[i], &a, &b))
			continue;
		if (sp->t0 < 0 || a < sp->t0)
			sp->t0 = a;
		if (b > sp->t1)
			sp->t1 = b;
		any = true;
	}
	int64_t e = verify_parse_time(s->have_end ? s->ended : s->last_ts);
	if (e > sp->t1)
		sp->t1 = e;
	return any;
}

/* ---------- HTML ---------- */

static void h(struct strbuf *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&': strbuf_addstr(out, "&amp;"); break;
		case '<': strbuf_addstr(out, "&lt;"); break;
		case '>': strbuf_addstr(out, "&gt;"); break;
		case '"': strbuf_addstr(out, "&quot;"); break;
		case '\'': strbuf_addstr(out, "&#39;"); break;
		default:
			if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
				strbuf_addf(out, "\\x%02x", c);
			else
				strbuf_addch(out, (char)c);
		}
	}
}

static void hd(struct strbuf *out, int64_t ms)
{
	struct strbuf d = STRBUF_INIT;
	duration(&d, ms);
	h(out, d.buf);
	strbuf_release(&d);
}

static const char css[] =
	":root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;}\n"
	"*{box-sizing:border-box}\n"
	"body{font:15px/1.5 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:var(--fg);"
	"background:var(--bg);margin:0 auto;max-width:1180px;padding:24px 32px 48px}\n"
	"h1{font-size:26px;margin:4px 0 16px}h2{font-size:19px;margin:32px 0 10px;padding-bottom:4px;"
	"border-bottom:1px solid var(--line)}h3{font-size:16px;margin:22px 0 8px}\n"
	".kicker{color:var(--muted);text-transform:uppercase;letter-spacing:.08em;font-size:12px;margin:0}\n"
	"code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\n"
	"pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px 10px;"
	"white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}\n"
	"table{border-collapse:collapse;width:100%;margin:6px 0}\n"
	"th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}\n"
	"thead th{background:var(--soft)}\n"
	"table.facts th{width:170px;background:var(--soft);font-weight:600}\n"
	"td.num{text-align:right;white-space:nowrap}\n"
	".hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere}\n"
	".muted{color:var(--muted)}\n"
	".verdict{border-radius:8px;padding:14px 18px;margin:8px 0 20px;border:2px solid}\n"
	".verdict .word{font-size:22px;font-weight:700;letter-spacing:.04em}\n"
	".verdict p{margin:4px 0}.verdict ul{margin:6px 0 0;padding-left:20px}\n"
	".vd-ok{background:#dafbe1;border-color:#2da44e}.vd-warn{background:#fff8c5;border-color:#bf8700}"
	".vd-bad{background:#ffebe9;border-color:#cf222e}\n"
	".badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;"
	"color:#fff;white-space:nowrap}\n"
	".v-passed{background:#2da44e}.v-deviated{background:#d4750b}.v-skipped{background:#8c959f}"
	".v-accepted{background:#bf8700}.v-interrupted{background:#8250df}.v-failed{background:#cf222e}"
	".v-open{background:#57606a}\n"
	"tr.hl-bad td{background:#ffebe9}tr.hl-warn td{background:#fff8c5}\n"
	".step{border:1px solid var(--line);border-radius:8px;padding:4px 14px 10px;margin:12px 0;"
	"break-inside:avoid-page}\n"
	".step.hl-bad{border-left:6px solid #cf222e}.step.hl-warn{border-left:6px solid #bf8700}\n"
	".block{margin:10px 0 4px}.meta{font-size:13px;color:var(--muted)}\n"
	".reason{margin:4px 0}.reason.bad{color:#a40e26;font-weight:600}\n"
	".diff .add{color:#116329;background:#dafbe1;display:block}"
	".diff .del{color:#82071e;background:#ffebe9;display:block}"
	".diff .hunk{color:#0550ae;display:block}\n"
	".suggest{border-left:4px solid #0969da;background:#ddf4ff;padding:6px 10px;margin:8px 0;"
	"border-radius:0 6px 6px 0}\n"
	".suggest table{background:#fff}\n"
	"details{margin:4px 0}summary{cursor:pointer;font-size:13px;color:var(--muted)}\n"
	"svg{max-width:100%;height:auto}\n"
	"footer{margin-top:36px;font-size:12px;color:var(--muted);border-top:1px solid var(--line);"
	"padding-top:8px}\n"
	"@media print{\n"
	"  @page{margin:14mm}\n"
	"  body{font-size:10.5pt;max-width:none;padding:0;color:#000}\n"
	"  h2{break-after:avoid}tr,.block,pre{break-inside:avoid}\n"
	"  .verdict,.badge,tr.hl-bad td,tr.hl-warn td,.diff span,.suggest{-webkit-print-color-adjust:exact;"
	"print-color-adjust:exact}\n"
	"  details::details-content{content-visibility:visible;display:block}\n"
	"  details>*{display:block}summary{color:#000}\n"
	"  pre{font-size:8.5pt}\n"
	"}\n";

static void html_fact(struct strbuf *out, const char *name)
{
	strbuf_addstr(out, "<tr><th>");
	h(out, name);
	strbuf_addstr(out, "</th><td>");
}

static void html_verdict(const struct verify_result *res, struct strbuf *out)
{
	struct strbuf head = STRBUF_INIT;
	const char *cls = res->verdict == VERIFY_COMPLETE ? "vd-ok" : res->verdict == VERIFY_BROKEN ? "vd-bad" : "vd-warn";

	verify_headline(res, &head);
	strbuf_addf(out, "<section class=\"verdict %s\" id=\"verdict\">\n<div class=\"word\">%s</div>\n<p><strong>",
		    cls, verdict_banner(res->verdict));
	h(out, head.buf);
	strbuf_addstr(out, "</strong></p>\n<p>");
	h(out, verdict_meaning(res));
	strbuf_addstr(out, "</p>\n<ul>\n");
	if (res->verdict == VERIFY_INCOMPLETE && res->reason) {
		strbuf_addstr(out, "<li>");
		h(out, res->reason);
		strbuf_addstr(out, "</li>\n");
	}
	strbuf_addf(out, "<li>Hash chain: intact over %zu of %zu lines.</li>\n", res->chained_lines, res->lines);
	if (!res->is_signed) {
		strbuf_addstr(out, "<li>Signatures: none, the journal is not signed.</li>\n");
	} else {
		strbuf_addf(out, "<li>Signatures: %zu checkpoint%s verified; LOG.sig %s; ", res->checkpoints,
			    res->checkpoints == 1 ? "" : "s",
			    res->logsig == LOGSIG_VALID ? "verified over the whole file"
			    : res->logsig == LOGSIG_ABSENT ? "missing" : "does <strong>not</strong> verify");
		if (res->covered_lines)
			strbuf_addf(out, "lines 1&ndash;%zu proven by a signature.</li>\n", res->covered_lines);
		else
			strbuf_addstr(out, "no line proven by a signature.</li>\n");
		for (size_t i = 0; i < res->nsigners; i++) {
			strbuf_addstr(out, "<li>Signed by key <span class=\"hash\">");
			h(out, res->signers[i].fingerprint);
			strbuf_addstr(out, "</span>");
			if (res->signers[i].principal) {
				strbuf_addstr(out, ", allowed for <strong>");
				h(out, res->signers[i].principal);
				strbuf_addstr(out, "</strong> by allowed_signers");
			}
			strbuf_addstr(out, ".</li>\n");
		}
		if (!res->signers_checked)
			strbuf_addstr(out, "<li>Who signed was <strong>not</strong> checked against an allowed_signers "
					   "file (run <code>runbook verify --signers</code>).</li>\n");
	}
	if (res->logsig == LOGSIG_INVALID && res->verdict != VERIFY_BROKEN) {
		strbuf_addstr(out, "<li>LOG.sig: ");
		h(out, res->logsig_reason);
		strbuf_addstr(out, "</li>\n");
	}
	for (size_t i = 0; i < res->nnotes; i++) {
		strbuf_addstr(out, "<li>");
		h(out, res->notes[i]);
		strbuf_addstr(out, "</li>\n");
	}
	if (res->summarised_lines < res->lines)
		strbuf_addf(out, "<li><strong>What follows shows lines 1&ndash;%zu only</strong>, the lines before the "
				 "break.</li>\n",
			    res->summarised_lines);
	strbuf_addstr(out, "</ul>\n</section>\n");
	strbuf_release(&head);
}

static void html_facts(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	strbuf_addstr(out, "<section id=\"facts\">\n<h2>Who, what, when, where</h2>\n<table class=\"facts\">\n");
	html_fact(out, "Runbook");
	strbuf_addstr(out, "<strong>");
	h(out, s->runbook_title);
	strbuf_addstr(out, "</strong><br><code>");
	h(out, s->runbook_path);
	strbuf_addstr(out, "</code><br>sha256 <span class=\"hash\">");
	h(out, s->runbook_sha256);
	strbuf_addf(out, "</span><br><span class=\"muted\">%lld steps; mode ", (long long)s->runbook_steps);
	h(out, s->mode);
	strbuf_addstr(out, "</span></td></tr>\n");
	html_fact(out, "Operator");
	strbuf_addstr(out, "<strong>");
	h(out, s->user);
	strbuf_addf(out, "</strong> (uid %lld) on <strong>", (long long)s->uid);
	h(out, s->host);
	strbuf_addstr(out, "</strong>, ");
	strbuf_addstr(out, s->interactive ? "at a terminal" : "unattended");
	if (s->options && *s->options) {
		strbuf_addstr(out, "; options <code>");
		h(out, s->options);
		strbuf_addstr(out, "</code>");
	}
	strbuf_addstr(out, "</td></tr>\n");
	html_fact(out, "Signed with");
	if (s->signing_key) {
		strbuf_addstr(out, "<span class=\"hash\">");
		h(out, s->signing_key);
		strbuf_addstr(out, "</span><br><span class=\"hash muted\">");
		h(out, s->signing_public);
		strbuf_addstr(out, "</span>");
	} else {
		strbuf_addstr(out, "not signed");
	}
	strbuf_addstr(out, "</td></tr>\n");
	html_fact(out, "When (UTC)");
	h(out, s->started);
	strbuf_addstr(out, " &rarr; ");
	if (s->have_end) {
		h(out, s->ended);
		strbuf_addstr(out, " (");
		hd(out, s->duration_ms);
		strbuf_addstr(out, ")");
	} else {
		strbuf_addstr(out, "<strong>no end recorded</strong>; last record at ");
		h(out, s->last_ts);
	}
	if (s->resumes)
		strbuf_addf(out, "<br>%zu sessions (resumed %zu time%s)", s->resumes + 1, s->resumes,
			    s->resumes == 1 ? "" : "s");
	strbuf_addstr(out, "</td></tr>\n");
	html_fact(out, "Target database");
	if (s->target.present) {
		strbuf_addstr(out, "<strong>");
		h(out, s->target.database);
		strbuf_addstr(out, "</strong> as ");
		h(out, s->target.user);
		if (s->target.sandbox)
			strbuf_addstr(out, " <span class=\"badge v-skipped\">sandbox</span>");
		strbuf_addstr(out, "<br><code>");
		h(out, s->target.conninfo);
		strbuf_addstr(out, "</code><br>PostgreSQL ");
		h(out, s->target.server_version);
		strbuf_addstr(out, ", system identifier <span class=\"hash\">");
		h(out, s->target.system_identifier);
		strbuf_addstr(out, "</span>");
	} else {
		strbuf_addstr(out, "none recorded");
	}
	strbuf_addstr(out, "</td></tr>\n");
	html_fact(out, "Result");
	if (s->have_end) {
		strbuf_addstr(out, "<strong>");
		h(out, s->result);
		strbuf_addf(out, "</strong>, exit %d", s->exit_code);
		if (s->step_counts && *s->step_counts) {
			strbuf_addstr(out, "; steps: ");
			h(out, s->step_counts);
		}
		if (s->rollback) {
			strbuf_addstr(out, "; rollback ");
			h(out, s->rollback);
		}
	} else {
		strbuf_addstr(out, "<strong>none</strong>: the journal stops before the run ended");
	}
	strbuf_addstr(out, "</td></tr>\n");
	if (s->nvars) {
		html_fact(out, "Variables");
		for (size_t i = 0; i < s->nvars; i++) {
			strbuf_addstr(out, i ? "<br><code>" : "<code>");
			h(out, s->vars[i].name);
			strbuf_addstr(out, "=");
			h(out, s->vars[i].value);
			strbuf_addstr(out, "</code>");
		}
		strbuf_addstr(out, "</td></tr>\n");
	}
	html_fact(out, "Journal");
	strbuf_addstr(out, "<code>");
	h(out, res->path);
	strbuf_addf(out, "</code><br>%zu lines, %llu bytes, sha256 <span class=\"hash\">%s</span><br>"
			 "written by runbook ",
		    res->lines, (unsigned long long)res->bytes, res->file_sha256);
	h(out, s->tool_version);
	strbuf_addstr(out, "</td></tr>\n</table>\n</section>\n");
}

static void html_steps(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	strbuf_addstr(out, "<section id=\"steps\">\n<h2>Steps</h2>\n");
	if (!s->nsteps) {
		strbuf_addstr(out, "<p>No step in the lines shown.</p>\n</section>\n");
		return;
	}
	strbuf_addstr(out, "<table class=\"steps\">\n<thead><tr><th>Step</th><th>Title</th><th>Verdict</th>"
			   "<th>Duration</th><th>Started (UTC)</th><th>Deviations, failures and decisions</th>"
			   "</tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		int sev = severity(st->ended ? st->verdict : NULL);
		bool decided = st->ndecisions > 0;
		const char *row = sev == 2 ? "hl-bad" : (sev == 1 || decided) ? "hl-warn" : "";
		strbuf_addf(out, "<tr class=\"%s\"><td><a href=\"#s%zu\">", row, i + 1);
		h(out, st->label);
		strbuf_addstr(out, "</a></td><td>");
		h(out, st->title);
		strbuf_addf(out, "</td><td><span class=\"badge %s\">", verdict_class(st->ended ? st->verdict : NULL));
		h(out, st->ended ? st->verdict : "did not end");
		strbuf_addstr(out, "</span></td><td class=\"num\">");
		if (st->ended)
			hd(out, st->duration_ms);
		strbuf_addstr(out, "</td><td>");
		h(out, st->started ? st->started + 11 : "");
		strbuf_addstr(out, "</td><td>");
		bool first = true;
		if (st->note && *st->note) {
			strbuf_addstr(out, "<strong>");
			h(out, st->verdict);
			strbuf_addstr(out, ":</strong> ");
			h(out, st->note);
			first = false;
		}
		for (size_t k = 0; k < s->nevents; k++) {
			const struct audit_event *e = &s->events[k];
			if (e->step != (long)i || e->kind == AUDIT_SKIP || e->kind == AUDIT_ACCEPT ||
			    e->kind == AUDIT_TARGET)
				continue;
			strbuf_addstr(out, first ? "" : "<br>");
			first = false;
			strbuf_addstr(out, "<strong>");
			h(out, e->kind == AUDIT_DECISION ? "decision" : e->what);
			strbuf_addstr(out, ":</strong> ");
			if (e->kind == AUDIT_DECISION) {
				h(out, e->what);
				if (e->reason && *e->reason) {
					strbuf_addstr(out, " &mdash; ");
					h(out, e->reason);
				}
				strbuf_addstr(out, " <span class=\"muted\">(");
				h(out, e->by);
				strbuf_addstr(out, ")</span>");
			} else {
				h(out, e->reason);
			}
		}
		if (st->nsuggestions)
			strbuf_addf(out, "%s<span class=\"muted\">%zu documented fix%s suggested</span>", first ? "" : "<br>",
				    st->nsuggestions, st->nsuggestions == 1 ? "" : "es");
		strbuf_addstr(out, "</td></tr>\n");
	}
	strbuf_addstr(out, "</tbody>\n</table>\n</section>\n");
}

static int64_t nice_tick(int64_t span)
{
	static const int64_t steps[] = { 1, 2, 5 };
	int64_t unit = 1;
	for (;;) {
		for (int i = 0; i < 3; i++)
			if (span / (steps[i] * unit) <= 8)
				return steps[i] * unit;
		unit *= 10;
	}
}

static void html_timeline(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;
	struct span sp;
	const int label_w = 250, bar_w = 640, right_w = 170, row_h = 26, top = 28;

	if (!run_span(s, &sp))
		return;
	int64_t total = sp.t1 - sp.t0;
	if (total < 1)
		total = 1;
	int height = top + (int)s->nsteps * row_h + 12;
	int width = label_w + bar_w + right_w;
	strbuf_addstr(out, "<section id=\"timeline\">\n<h2>Timeline</h2>\n");
	strbuf_addf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"step durations\" "
			 "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" font-family=\"Helvetica,Arial,sans-serif\" "
			 "font-size=\"12\">\n",
		    width, height, width, height);
	int64_t tick = nice_tick(total);
	for (int64_t t = 0; t <= total; t += tick) {
		double x = label_w + (double)t * bar_w / (double)total;
		struct strbuf d = STRBUF_INIT;
		duration(&d, t);
		strbuf_addf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#d1d9e0\"/>"
				 "<text x=\"%.1f\" y=\"%d\" fill=\"#59636e\" text-anchor=\"middle\">%s</text>\n",
			    x, top - 6, x, height - 8, x, top - 12, d.buf);
		strbuf_release(&d);
	}
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		int64_t a, b;
		int y = top + (int)i * row_h;
		struct strbuf label = STRBUF_INIT;
		strbuf_addstr(&label, st->label);
		if (st->title) {
			strbuf_addstr(&label, ": ");
			strbuf_addstr(&label, st->title);
		}
		if (label.len > 38) {
			strbuf_setlen(&label, 36);
			/* do not cut a UTF-8 sequence in half */
			while (label.len && ((unsigned char)label.buf[label.len - 1] & 0xc0) == 0x80)
				strbuf_setlen(&label, label.len - 1);
			if (label.len && (unsigned char)label.buf[label.len - 1] >= 0xc0)
				strbuf_setlen(&label, label.len - 1);
			strbuf_addstr(&label, "…");
		}
		strbuf_addf(out, "<text x=\"%d\" y=\"%d\" fill=\"#1f2328\">", 4, y + 17);
		h(out, label.buf);
		strbuf_addstr(out, "</text>\n");
		strbuf_release(&label);
		if (!step_times(s, st, &a, &b))
			continue;
		double x = label_w + (double)(a - sp.t0) * bar_w / (double)total;
		double w = (double)(b - a) * bar_w / (double)total;
		if (w < 3)
			w = 3;
		strbuf_addf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"3\" fill=\"%s\"><title>",
			    x, y + 4, w, row_h - 8, verdict_fill(st->ended ? st->verdict : NULL));
		h(out, st->label);
		strbuf_addstr(out, " ");
		h(out, st->ended ? st->verdict : "did not end");
		strbuf_addstr(out, ", ");
		hd(out, st->ended ? st->duration_ms : b - a);
		strbuf_addstr(out, "</title></rect>\n");
		strbuf_addf(out, "<text x=\"%.1f\" y=\"%d\" fill=\"#59636e\">", x + w + 6, y + 17);
		hd(out, st->ended ? st->duration_ms : b - a);
		strbuf_addstr(out, st->ended ? "" : " (did not end)");
		strbuf_addstr(out, "</text>\n");
	}
	strbuf_addstr(out, "</svg>\n<p class=\"muted\">Bars start when the step started and are as long as it "
			   "took; colour by verdict: <span class=\"badge v-passed\">passed</span> "
			   "<span class=\"badge v-deviated\">deviated</span> <span class=\"badge v-failed\">failed</span> "
			   "<span class=\"badge v-accepted\">accepted</span> <span class=\"badge v-skipped\">skipped</span> "
			   "<span class=\"badge v-open\">did not end</span></p>\n</section>\n");
}

static void html_events(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	strbuf_addstr(out, "<section id=\"events\">\n<h2>Deviations, failures, skips and decisions</h2>\n");
	size_t n = 0;
	for (size_t i = 0; i < s->nevents; i++)
		n += s->events[i].kind != AUDIT_TARGET;
	if (!n) {
		strbuf_addstr(out, res->summary.have_end
				   ? "<p>None: every command passed as the runbook expected, and nobody had to "
				     "decide anything.</p>\n</section>\n"
				   : "<p>None in the lines shown.</p>\n</section>\n");
		return;
	}
	strbuf_addstr(out, "<table>\n<thead><tr><th>Line</th><th>Time (UTC)</th><th>Step</th><th>What</th>"
			   "<th>Reason</th><th>By</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < s->nevents; i++) {
		const struct audit_event *e = &s->events[i];
		if (e->kind == AUDIT_TARGET)
			continue;
		const char *row = e->kind == AUDIT_DEVIATION || e->kind == AUDIT_FAILURE ? "hl-bad" : "hl-warn";
		if (e->kind == AUDIT_RESUME || e->kind == AUDIT_MONITOR)
			row = "";
		strbuf_addf(out, "<tr class=\"%s\"><td class=\"num\">%zu</td><td>", row, e->line);
		h(out, e->ts ? e->ts + 11 : "");
		strbuf_addstr(out, "</td><td>");
		if (e->step >= 0) {
			strbuf_addf(out, "<a href=\"#s%ld\">", e->step + 1);
			h(out, s->steps[e->step].label);
			strbuf_addstr(out, "</a>");
		}
		strbuf_addstr(out, "</td><td><strong>");
		h(out, event_word(e->kind));
		strbuf_addstr(out, "</strong>");
		if (e->kind == AUDIT_DECISION || e->kind == AUDIT_FAILURE) {
			strbuf_addstr(out, ": ");
			h(out, e->what);
		}
		strbuf_addstr(out, "</td><td>");
		h(out, e->reason);
		if (e->kind == AUDIT_DECISION && e->about && *e->about) {
			strbuf_addstr(out, "<br><span class=\"muted\">about: ");
			h(out, e->about);
			strbuf_addstr(out, "</span>");
		}
		strbuf_addstr(out, "</td><td>");
		h(out, e->by);
		strbuf_addstr(out, "</td></tr>\n");
	}
	strbuf_addstr(out, "</tbody>\n</table>\n</section>\n");
}

static void html_prereqs(const struct audit_summary *s, struct strbuf *out)
{
	if (!s->nprereqs)
		return;
	strbuf_addstr(out, "<section id=\"prereqs\">\n<h2>Prerequisites</h2>\n<table>\n<thead><tr><th>Item</th>"
			   "<th>Status</th><th>Evidence</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < s->nprereqs; i++) {
		const struct audit_prereq *p = &s->prereqs[i];
		bool bad = p->status && (!strcmp(p->status, "failed") || !strcmp(p->status, "not met") ||
					 !strcmp(p->status, "overridden"));
		strbuf_addf(out, "<tr class=\"%s\"><td>", bad ? "hl-warn" : "");
		h(out, p->item);
		strbuf_addstr(out, "</td><td>");
		h(out, p->status);
		strbuf_addstr(out, "</td><td>");
		h(out, p->evidence);
		strbuf_addstr(out, "</td></tr>\n");
	}
	strbuf_addstr(out, "</tbody>\n</table>\n</section>\n");
}

static void html_diff(struct strbuf *out, const char *diff)
{
	strbuf_addstr(out, "<pre class=\"diff\">");
	for (const char *p = diff; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *cls = *p == '+' ? "add" : *p == '-' ? "del" : *p == '@' ? "hunk" : NULL;
		struct strbuf line = STRBUF_INIT;
		strbuf_add(&line, p, len);
		if (cls)
			strbuf_addf(out, "<span class=\"%s\">", cls);
		h(out, line.buf);
		strbuf_addstr(out, cls ? "</span>" : "\n");
		strbuf_release(&line);
		p += len + (eol ? 1 : 0);
	}
	strbuf_addstr(out, "</pre>\n");
}

static void html_stream(struct strbuf *out, const char *name, const struct audit_stream *st, bool open)
{
	if (!st->present)
		return;
	if (!st->bytes) {
		strbuf_addf(out, "<div class=\"meta\">%s: empty</div>\n", name);
		return;
	}
	strbuf_addf(out, "<details%s><summary>%s: %lld bytes%s, sha256 <span class=\"hash\">", open ? " open" : "",
		    name, (long long)st->bytes, st->truncated ? " (text truncated in the journal)" : "");
	h(out, st->sha256);
	strbuf_addstr(out, "</span></summary>");
	strbuf_addstr(out, "<pre>");
	h(out, st->text);
	strbuf_addstr(out, "</pre>");
	strbuf_addstr(out, "</details>\n");
}

static void html_suggestions(const struct audit_step *st, struct strbuf *out)
{
	if (!st->nsuggestions && !st->none_matched)
		return;
	strbuf_addstr(out, "<div class=\"suggest\"><strong>Documented fixes suggested (If This Fails)</strong>\n");
	if (!st->nsuggestions) {
		strbuf_addstr(out, "<p>No row of the runbook's failure table matched.</p></div>\n");
		return;
	}
	strbuf_addstr(out, "<table>\n<thead><tr><th>Error</th><th>Cause</th><th>Solution</th><th>Why it was "
			   "suggested</th><th>Score</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < st->nsuggestions; i++) {
		const struct audit_suggestion *g = &st->suggestions[i];
		strbuf_addstr(out, "<tr><td>");
		h(out, g->error);
		strbuf_addstr(out, "</td><td>");
		h(out, g->cause);
		strbuf_addstr(out, "</td><td>");
		h(out, g->solution);
		strbuf_addstr(out, "</td><td>");
		h(out, g->why);
		strbuf_addf(out, "</td><td class=\"num\">%d%%</td></tr>\n", g->score_pct);
	}
	strbuf_addstr(out, "</tbody>\n</table></div>\n");
}

static void html_details(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	if (!s->nsteps)
		return;
	strbuf_addstr(out, "<section id=\"commands\">\n<h2>Commands and outputs</h2>\n");
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		int sev = severity(st->ended ? st->verdict : NULL);
		strbuf_addf(out, "<article class=\"step %s\" id=\"s%zu\">\n<h3>", sev == 2 ? "hl-bad" : sev ? "hl-warn" : "", i + 1);
		h(out, st->label);
		strbuf_addstr(out, " &middot; ");
		h(out, st->title);
		strbuf_addf(out, " <span class=\"badge %s\">", verdict_class(st->ended ? st->verdict : NULL));
		h(out, st->ended ? st->verdict : "did not end");
		strbuf_addstr(out, "</span></h3>\n");
		strbuf_addf(out, "<div class=\"meta\">runbook line %d &middot; journal line %zu", st->source_line, st->line);
		if (st->ended) {
			strbuf_addstr(out, " &middot; ");
			hd(out, st->duration_ms);
		}
		strbuf_addstr(out, "</div>\n");
		if (st->note && *st->note) {
			strbuf_addstr(out, "<p class=\"reason\"><strong>");
			h(out, st->verdict);
			strbuf_addstr(out, ":</strong> ");
			h(out, st->note);
			strbuf_addstr(out, "</p>\n");
		}
		for (size_t k = 0; k < st->nblocks; k++) {
			const struct audit_block *b = &st->blocks[k];
			bool bad = !b->ended || severity(b->verdict) > 0;
			strbuf_addstr(out, "<div class=\"block\">\n<div class=\"meta\">");
			h(out, b->kind ? b->kind : "block");
			strbuf_addf(out, " block %d &middot; runbook line %d", b->index, b->source_line);
			if (b->attempt > 1)
				strbuf_addf(out, " &middot; attempt %d", b->attempt);
			if (b->ended) {
				strbuf_addf(out, " &middot; exit %d", b->exit_code);
				if (b->signal)
					strbuf_addf(out, " (signal %d)", b->signal);
				strbuf_addstr(out, " &middot; ");
				hd(out, b->duration_ms);
				strbuf_addstr(out, " &middot; ");
				h(out, b->started);
			}
			strbuf_addf(out, " <span class=\"badge %s\">", verdict_class(b->ended ? b->verdict : NULL));
			h(out, b->ended ? b->verdict : "running when the journal stops");
			strbuf_addstr(out, "</span></div>\n");
			if (b->comment && *b->comment) {
				strbuf_addstr(out, "<p class=\"muted\">");
				h(out, b->comment);
				strbuf_addstr(out, "</p>\n");
			}
			strbuf_addstr(out, "<pre class=\"cmd\">");
			h(out, b->command);
			strbuf_addstr(out, "</pre>\n");
			if (b->ended && b->reason && *b->reason) {
				strbuf_addf(out, "<p class=\"reason%s\">", bad ? " bad" : "");
				h(out, b->reason);
				if (b->sqlstate) {
					strbuf_addstr(out, " (SQLSTATE ");
					h(out, b->sqlstate);
					strbuf_addstr(out, ")");
				}
				strbuf_addstr(out, "</p>\n");
			}
			if (b->diff && *b->diff)
				html_diff(out, b->diff);
			if (b->captures) {
				strbuf_addstr(out, "<p class=\"meta\">captured: <code>");
				h(out, b->captures);
				strbuf_addstr(out, "</code></p>\n");
			}
			html_stream(out, "stdout", &b->out, bad);
			html_stream(out, "stderr", &b->err, bad);
			strbuf_addstr(out, "</div>\n");
		}
		html_suggestions(st, out);
		strbuf_addstr(out, "</article>\n");
	}
	strbuf_addstr(out, "</section>\n");
}

static void html_finals(const struct audit_summary *s, struct strbuf *out)
{
	if (!s->nfinals)
		return;
	strbuf_addstr(out, "<section id=\"final\">\n<h2>Expected final state</h2>\n<table>\n<thead><tr><th>Metric"
			   "</th><th>Expected</th><th>Actual</th><th></th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < s->nfinals; i++) {
		const struct audit_final *f = &s->finals[i];
		strbuf_addf(out, "<tr class=\"%s\"><td>", f->ok ? "" : "hl-bad");
		h(out, f->metric);
		strbuf_addstr(out, "</td><td>");
		h(out, f->expected);
		strbuf_addstr(out, "</td><td>");
		h(out, f->actual);
		strbuf_addf(out, "</td><td><span class=\"badge %s\">%s</span></td></tr>\n", f->ok ? "v-passed" : "v-failed",
			    f->ok ? "ok" : "not reached");
	}
	strbuf_addstr(out, "</tbody>\n</table>\n</section>\n");
}

static void render_html(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	strbuf_addstr(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
			   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
			   "<meta name=\"generator\" content=\"runbook report\">\n<title>Audit: ");
	h(out, s->runbook_title ? s->runbook_title : res->path);
	strbuf_addf(out, " (%s)</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n"
			 "<p class=\"kicker\">runbook audit report</p>\n<h1>",
		    verify_verdict_word(res->verdict), css);
	h(out, s->runbook_title ? s->runbook_title : "(no run.start: not a journal of a run)");
	strbuf_addstr(out, "</h1>\n</header>\n");
	html_verdict(res, out);
	if (s->have_start) {
		html_facts(res, out);
		html_steps(res, out);
		html_timeline(res, out);
		html_events(res, out);
		html_prereqs(s, out);
		html_finals(s, out);
		html_details(res, out);
	}
	strbuf_addstr(out, "<footer>Generated by <code>runbook report</code> from <code>");
	h(out, res->path);
	strbuf_addf(out, "</code> (sha256 <span class=\"hash\">%s</span>).", res->file_sha256);
	if (res->logsig != LOGSIG_ABSENT) {
		strbuf_addstr(out, " Check it without runbook: <code>ssh-keygen -Y verify -f allowed_signers -I PRINCIPAL "
				   "-n runbook-log -s ");
		h(out, res->sig_path ? res->sig_path : "LOG.sig");
		strbuf_addstr(out, " &lt; ");
		h(out, res->path);
		strbuf_addstr(out, "</code>");
	}
	strbuf_addstr(out, "</footer>\n</body>\n</html>\n");
}

/* ---------- Markdown ---------- */

/* md writes text that Markdown shows as it is, always in the middle of a
 * line: characters that start inline markup or end a table cell are
 * backslash-escaped, <, > and & become entities (so no raw HTML gets
 * through), and newlines become <br>, so no text starts a line. */
static void md(struct strbuf *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '<')
			strbuf_addstr(out, "&lt;");
		else if (c == '>')
			strbuf_addstr(out, "&gt;");
		else if (c == '&')
			strbuf_addstr(out, "&amp;");
		else if (c == '\n')
			strbuf_addstr(out, "<br>");
		else if (c == '\r' || c == '\t')
			strbuf_addch(out, ' ');
		else if (c < 0x20 || c == 0x7f)
			strbuf_addf(out, "\\\\x%02x", c);
		else if (strchr("\\`*_[]|~", c))
			strbuf_addf(out, "\\%c", c);
		else
			strbuf_addch(out, (char)c);
	}
}

static void mdd(struct strbuf *out, int64_t ms)
{
	duration(out, ms);
}

/* fence writes text in a fenced code block that its content cannot close. */
static void fence(struct strbuf *out, const char *info, const char *text)
{
	size_t longest = 0, run = 0;
	for (const char *p = text; p && *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	size_t n = longest >= 3 ? longest + 1 : 3;
	strbuf_addchars(out, '`', n);
	strbuf_addstr(out, info);
	strbuf_addch(out, '\n');
	for (const char *p = text; p && *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			strbuf_addf(out, "\\x%02x", c);
		else
			strbuf_addch(out, (char)c);
	}
	if (text && *text && text[strlen(text) - 1] != '\n')
		strbuf_addch(out, '\n');
	strbuf_addchars(out, '`', n);
	strbuf_addstr(out, "\n\n");
}

static const char *fence_lang(const char *kind)
{
	if (kind && !strcmp(kind, "sql"))
		return "sql";
	if (kind && (!strcmp(kind, "shell") || !strcmp(kind, "console")))
		return "bash";
	return "text";
}

static void md_verdict(const struct verify_result *res, struct strbuf *out)
{
	struct strbuf head = STRBUF_INIT;
	verify_headline(res, &head);
	strbuf_addf(out, "> **%s**: ", verdict_banner(res->verdict));
	md(out, head.buf);
	strbuf_addstr(out, "\n>\n> ");
	md(out, verdict_meaning(res));
	strbuf_addstr(out, "\n>\n");
	if (res->verdict == VERIFY_INCOMPLETE && res->reason) {
		strbuf_addstr(out, "> - ");
		md(out, res->reason);
		strbuf_addch(out, '\n');
	}
	strbuf_addf(out, "> - Hash chain: intact over %zu of %zu lines\n", res->chained_lines, res->lines);
	if (!res->is_signed) {
		strbuf_addstr(out, "> - Signatures: none, the journal is not signed\n");
	} else {
		strbuf_addf(out, "> - Signatures: %zu checkpoint%s verified; LOG.sig %s; ", res->checkpoints,
			    res->checkpoints == 1 ? "" : "s",
			    res->logsig == LOGSIG_VALID ? "verified over the whole file"
			    : res->logsig == LOGSIG_ABSENT ? "missing" : "does **not** verify");
		if (res->covered_lines)
			strbuf_addf(out, "lines 1-%zu proven by a signature\n", res->covered_lines);
		else
			strbuf_addstr(out, "no line proven by a signature\n");
		for (size_t i = 0; i < res->nsigners; i++) {
			strbuf_addstr(out, "> - Signed by key ");
			md(out, res->signers[i].fingerprint);
			if (res->signers[i].principal) {
				strbuf_addstr(out, ", allowed for **");
				md(out, res->signers[i].principal);
				strbuf_addstr(out, "** by allowed\\_signers");
			}
			strbuf_addch(out, '\n');
		}
		if (!res->signers_checked)
			strbuf_addstr(out, "> - Who signed was **not** checked against an allowed\\_signers file\n");
	}
	if (res->logsig == LOGSIG_INVALID && res->verdict != VERIFY_BROKEN) {
		strbuf_addstr(out, "> - LOG.sig: ");
		md(out, res->logsig_reason);
		strbuf_addch(out, '\n');
	}
	for (size_t i = 0; i < res->nnotes; i++) {
		strbuf_addstr(out, "> - ");
		md(out, res->notes[i]);
		strbuf_addch(out, '\n');
	}
	if (res->summarised_lines < res->lines)
		strbuf_addf(out, "> - **What follows shows lines 1-%zu only**, the lines before the break\n",
			    res->summarised_lines);
	strbuf_addch(out, '\n');
	strbuf_release(&head);
}

static void md_row(struct strbuf *out, const char *name)
{
	strbuf_addstr(out, "| ");
	strbuf_addstr(out, name);
	strbuf_addstr(out, " | ");
}

static void md_facts(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	strbuf_addstr(out, "## Who, what, when, where\n\n| | |\n|---|---|\n");
	md_row(out, "Runbook");
	strbuf_addstr(out, "**");
	md(out, s->runbook_title);
	strbuf_addstr(out, "**<br>");
	md(out, s->runbook_path);
	strbuf_addstr(out, "<br>sha256 ");
	md(out, s->runbook_sha256);
	strbuf_addf(out, "<br>%lld steps; mode ", (long long)s->runbook_steps);
	md(out, s->mode);
	strbuf_addstr(out, " |\n");
	md_row(out, "Operator");
	strbuf_addstr(out, "**");
	md(out, s->user);
	strbuf_addf(out, "** (uid %lld) on **", (long long)s->uid);
	md(out, s->host);
	strbuf_addf(out, "**, %s", s->interactive ? "at a terminal" : "unattended");
	if (s->options && *s->options) {
		strbuf_addstr(out, "; options ");
		md(out, s->options);
	}
	strbuf_addstr(out, " |\n");
	md_row(out, "Signed with");
	if (s->signing_key) {
		md(out, s->signing_key);
		strbuf_addstr(out, "<br>");
		md(out, s->signing_public);
	} else {
		strbuf_addstr(out, "not signed");
	}
	strbuf_addstr(out, " |\n");
	md_row(out, "When (UTC)");
	md(out, s->started);
	strbuf_addstr(out, " → ");
	if (s->have_end) {
		md(out, s->ended);
		strbuf_addstr(out, " (");
		mdd(out, s->duration_ms);
		strbuf_addstr(out, ")");
	} else {
		strbuf_addstr(out, "**no end recorded**; last record at ");
		md(out, s->last_ts);
	}
	if (s->resumes)
		strbuf_addf(out, "<br>%zu sessions (resumed %zu time%s)", s->resumes + 1, s->resumes,
			    s->resumes == 1 ? "" : "s");
	strbuf_addstr(out, " |\n");
	md_row(out, "Target database");
	if (s->target.present) {
		strbuf_addstr(out, "**");
		md(out, s->target.database);
		strbuf_addstr(out, "** as ");
		md(out, s->target.user);
		strbuf_addstr(out, s->target.sandbox ? " (sandbox)<br>" : "<br>");
		md(out, s->target.conninfo);
		strbuf_addstr(out, "<br>PostgreSQL ");
		md(out, s->target.server_version);
		strbuf_addstr(out, ", system identifier ");
		md(out, s->target.system_identifier);
	} else {
		strbuf_addstr(out, "none recorded");
	}
	strbuf_addstr(out, " |\n");
	md_row(out, "Result");
	if (s->have_end) {
		strbuf_addstr(out, "**");
		md(out, s->result);
		strbuf_addf(out, "**, exit %d", s->exit_code);
		if (s->step_counts && *s->step_counts) {
			strbuf_addstr(out, "; steps: ");
			md(out, s->step_counts);
		}
		if (s->rollback) {
			strbuf_addstr(out, "; rollback ");
			md(out, s->rollback);
		}
	} else {
		strbuf_addstr(out, "**none**: the journal stops before the run ended");
	}
	strbuf_addstr(out, " |\n");
	if (s->nvars) {
		md_row(out, "Variables");
		for (size_t i = 0; i < s->nvars; i++) {
			if (i)
				strbuf_addstr(out, "<br>");
			md(out, s->vars[i].name);
			strbuf_addstr(out, "=");
			md(out, s->vars[i].value);
		}
		strbuf_addstr(out, " |\n");
	}
	md_row(out, "Journal");
	md(out, res->path);
	strbuf_addf(out, "<br>%zu lines, %llu bytes, sha256 %s<br>written by runbook ", res->lines,
		    (unsigned long long)res->bytes, res->file_sha256);
	md(out, s->tool_version);
	strbuf_addstr(out, " |\n\n");
}

static void md_steps(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	strbuf_addstr(out, "## Steps\n\n");
	if (!s->nsteps) {
		strbuf_addstr(out, "No step in the lines shown.\n\n");
		return;
	}
	strbuf_addstr(out, "| Step | Title | Verdict | Duration | Started (UTC) | Deviations, failures and decisions |\n"
			   "|---|---|---|---:|---|---|\n");
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		int sev = severity(st->ended ? st->verdict : NULL);
		strbuf_addstr(out, "| ");
		md(out, st->label);
		strbuf_addstr(out, " | ");
		md(out, st->title);
		strbuf_addstr(out, sev ? " | **" : " | ");
		md(out, st->ended ? st->verdict : "did not end");
		strbuf_addstr(out, sev ? "** | " : " | ");
		if (st->ended)
			mdd(out, st->duration_ms);
		strbuf_addstr(out, " | ");
		md(out, st->started ? st->started + 11 : "");
		strbuf_addstr(out, " | ");
		bool first = true;
		if (st->note && *st->note) {
			strbuf_addstr(out, "**");
			md(out, st->verdict);
			strbuf_addstr(out, ":** ");
			md(out, st->note);
			first = false;
		}
		for (size_t k = 0; k < s->nevents; k++) {
			const struct audit_event *e = &s->events[k];
			if (e->step != (long)i || e->kind == AUDIT_SKIP || e->kind == AUDIT_ACCEPT ||
			    e->kind == AUDIT_TARGET)
				continue;
			strbuf_addstr(out, first ? "**" : "<br>**");
			first = false;
			md(out, e->kind == AUDIT_DECISION ? "decision" : e->what);
			strbuf_addstr(out, ":** ");
			if (e->kind == AUDIT_DECISION) {
				md(out, e->what);
				if (e->reason && *e->reason) {
					strbuf_addstr(out, " — ");
					md(out, e->reason);
				}
				strbuf_addstr(out, " (");
				md(out, e->by);
				strbuf_addstr(out, ")");
			} else {
				md(out, e->reason);
			}
		}
		if (st->nsuggestions)
			strbuf_addf(out, "%s%zu documented fix%s suggested", first ? "" : "<br>", st->nsuggestions,
				    st->nsuggestions == 1 ? "" : "es");
		strbuf_addstr(out, " |\n");
	}
	strbuf_addch(out, '\n');
}

static void md_timeline(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;
	struct span sp;
	const int cols = 50;

	if (!run_span(s, &sp))
		return;
	int64_t total = sp.t1 - sp.t0 > 0 ? sp.t1 - sp.t0 : 1;
	struct strbuf chart = STRBUF_INIT;
	strbuf_addstr(out, "## Timeline\n\n");
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		int64_t a, b;
		if (!step_times(s, st, &a, &b))
			continue;
		int from = (int)((a - sp.t0) * cols / total), len = (int)((b - a) * cols / total);
		if (len < 1)
			len = 1;
		if (from + len > cols)
			from = cols - len;
		struct strbuf label = STRBUF_INIT;
		for (const char *p = st->label; p && *p && label.len < 20; p++)
			strbuf_addch(&label, (unsigned char)*p < 0x20 || *p == '`' ? '?' : *p);
		strbuf_addf(&chart, "%-20s |", label.buf);
		strbuf_release(&label);
		strbuf_addchars(&chart, ' ', (size_t)from);
		for (int k = 0; k < len; k++)
			strbuf_addstr(&chart, "█");
		strbuf_addchars(&chart, ' ', (size_t)(cols - from - len));
		strbuf_addstr(&chart, "| ");
		duration(&chart, st->ended ? st->duration_ms : b - a);
		strbuf_addf(&chart, " %s\n", st->ended ? severity(st->verdict) ? "!" : "" : "(did not end)");
	}
	fence(out, "text", chart.buf);
	strbuf_release(&chart);
}

static void md_events(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;
	size_t n = 0;

	strbuf_addstr(out, "## Deviations, failures, skips and decisions\n\n");
	for (size_t i = 0; i < s->nevents; i++)
		n += s->events[i].kind != AUDIT_TARGET;
	if (!n) {
		strbuf_addstr(out, s->have_end ? "None: every command passed as the runbook expected, and nobody had "
						 "to decide anything.\n\n"
					       : "None in the lines shown.\n\n");
		return;
	}
	strbuf_addstr(out, "| Line | Time (UTC) | Step | What | Reason | By |\n|---:|---|---|---|---|---|\n");
	for (size_t i = 0; i < s->nevents; i++) {
		const struct audit_event *e = &s->events[i];
		if (e->kind == AUDIT_TARGET)
			continue;
		strbuf_addf(out, "| %zu | ", e->line);
		md(out, e->ts ? e->ts + 11 : "");
		strbuf_addstr(out, " | ");
		if (e->step >= 0)
			md(out, s->steps[e->step].label);
		strbuf_addstr(out, " | **");
		md(out, event_word(e->kind));
		strbuf_addstr(out, "**");
		if (e->kind == AUDIT_DECISION || e->kind == AUDIT_FAILURE) {
			strbuf_addstr(out, ": ");
			md(out, e->what);
		}
		strbuf_addstr(out, " | ");
		md(out, e->reason);
		if (e->kind == AUDIT_DECISION && e->about && *e->about) {
			strbuf_addstr(out, "<br>about: ");
			md(out, e->about);
		}
		strbuf_addstr(out, " | ");
		md(out, e->by);
		strbuf_addstr(out, " |\n");
	}
	strbuf_addch(out, '\n');
}

static void md_prereqs_finals(const struct audit_summary *s, struct strbuf *out)
{
	if (s->nprereqs) {
		strbuf_addstr(out, "## Prerequisites\n\n| Item | Status | Evidence |\n|---|---|---|\n");
		for (size_t i = 0; i < s->nprereqs; i++) {
			strbuf_addstr(out, "| ");
			md(out, s->prereqs[i].item);
			strbuf_addstr(out, " | ");
			md(out, s->prereqs[i].status);
			strbuf_addstr(out, " | ");
			md(out, s->prereqs[i].evidence);
			strbuf_addstr(out, " |\n");
		}
		strbuf_addch(out, '\n');
	}
	if (s->nfinals) {
		strbuf_addstr(out, "## Expected final state\n\n| Metric | Expected | Actual | |\n|---|---|---|---|\n");
		for (size_t i = 0; i < s->nfinals; i++) {
			strbuf_addstr(out, "| ");
			md(out, s->finals[i].metric);
			strbuf_addstr(out, " | ");
			md(out, s->finals[i].expected);
			strbuf_addstr(out, " | ");
			md(out, s->finals[i].actual);
			strbuf_addstr(out, s->finals[i].ok ? " | ok |\n" : " | **not reached** |\n");
		}
		strbuf_addch(out, '\n');
	}
}

static void md_details(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	if (!s->nsteps)
		return;
	strbuf_addstr(out, "## Commands and outputs\n\n");
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		strbuf_addstr(out, "### ");
		md(out, st->label);
		strbuf_addstr(out, " · ");
		md(out, st->title);
		strbuf_addstr(out, " — ");
		md(out, st->ended ? st->verdict : "did not end");
		strbuf_addf(out, "\n\nRunbook line %d, journal line %zu", st->source_line, st->line);
		if (st->ended) {
			strbuf_addstr(out, ", ");
			mdd(out, st->duration_ms);
		}
		strbuf_addstr(out, ".\n\n");
		if (st->note && *st->note) {
			strbuf_addstr(out, "**");
			md(out, st->verdict);
			strbuf_addstr(out, ":** ");
			md(out, st->note);
			strbuf_addstr(out, "\n\n");
		}
		for (size_t k = 0; k < st->nblocks; k++) {
			const struct audit_block *b = &st->blocks[k];
			strbuf_addstr(out, "- ");
			md(out, b->kind ? b->kind : "block");
			strbuf_addf(out, " block %d, runbook line %d", b->index, b->source_line);
			if (b->attempt > 1)
				strbuf_addf(out, ", attempt %d", b->attempt);
			if (b->ended) {
				strbuf_addstr(out, ": **");
				md(out, b->verdict);
				strbuf_addf(out, "**, exit %d, ", b->exit_code);
				mdd(out, b->duration_ms);
				if (b->reason && *b->reason) {
					strbuf_addstr(out, " — ");
					md(out, b->reason);
				}
				if (b->sqlstate) {
					strbuf_addstr(out, " (SQLSTATE ");
					md(out, b->sqlstate);
					strbuf_addstr(out, ")");
				}
			} else {
				strbuf_addstr(out, ": **running when the journal stops**");
			}
			strbuf_addstr(out, "\n\n");
			fence(out, fence_lang(b->kind), b->command ? b->command : "");
			if (b->diff && *b->diff) {
				strbuf_addstr(out, "Deviation from the expected output:\n\n");
				fence(out, "diff", b->diff);
			}
			if (b->captures) {
				strbuf_addstr(out, "Captured:\n\n");
				fence(out, "text", b->captures);
			}
			const struct audit_stream *streams[2] = { &b->out, &b->err };
			for (int j = 0; j < 2; j++) {
				const struct audit_stream *sm = streams[j];
				if (!sm->present || !sm->bytes)
					continue;
				strbuf_addf(out, "%s (%lld bytes%s, sha256 ", j ? "stderr" : "stdout", (long long)sm->bytes,
					    sm->truncated ? ", text truncated in the journal" : "");
				md(out, sm->sha256);
				strbuf_addstr(out, "):\n\n");
				fence(out, "text", sm->text ? sm->text : "");
			}
		}
		if (st->nsuggestions) {
			strbuf_addstr(out, "Documented fixes suggested (If This Fails):\n\n| Error | Cause | Solution | Why | "
					   "Score |\n|---|---|---|---|---:|\n");
			for (size_t k = 0; k < st->nsuggestions; k++) {
				const struct audit_suggestion *g = &st->suggestions[k];
				strbuf_addstr(out, "| ");
				md(out, g->error);
				strbuf_addstr(out, " | ");
				md(out, g->cause);
				strbuf_addstr(out, " | ");
				md(out, g->solution);
				strbuf_addstr(out, " | ");
				md(out, g->why);
				strbuf_addf(out, " | %d%% |\n", g->score_pct);
			}
			strbuf_addch(out, '\n');
		} else if (st->none_matched) {
			strbuf_addstr(out, "No row of the runbook's failure table matched.\n\n");
		}
	}
}

static void render_md(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	strbuf_addstr(out, "# Audit: ");
	md(out, s->runbook_title ? s->runbook_title : "(no run.start: not a journal of a run)");
	strbuf_addstr(out, "\n\n");
	md_verdict(res, out);
	if (s->have_start) {
		md_facts(res, out);
		md_steps(res, out);
		md_timeline(res, out);
		md_events(res, out);
		md_prereqs_finals(s, out);
		md_details(res, out);
	}
	strbuf_addstr(out, "---\n\nGenerated by runbook report from ");
	md(out, res->path);
	strbuf_addf(out, " (sha256 %s).\n", res->file_sha256);
}

void report_render(const struct verify_result *res, enum report_format fmt, struct strbuf *out)
{
	if (fmt == REPORT_MARKDOWN)
		render_md(res, out);
	else
		render_html(res, out);
}
