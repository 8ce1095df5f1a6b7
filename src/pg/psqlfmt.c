/* psqlfmt.c - results in psql's default aligned format. */
#include "pg/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* This reproduces fe_utils/print.c's print_aligned_text() with psql's
 * defaults (border 1, ascii line style, no expanded or wrapped mode, NULL
 * shown as nothing) and mbprint.c's pg_wcsformat(): widths are display
 * widths from PQdsplen, newlines split a value into lines marked with '+',
 * \r and other control characters are shown escaped, tabs expanded. */

struct fline {
	size_t off, len;
	int width;
};

struct fcell {
	struct strbuf text;
	struct fline *lines;
	size_t nlines, alloc;
	int width; /* widest line */
};

static unsigned utf8_code_point(const unsigned char *c)
{
	if ((c[0] & 0x80) == 0)
		return c[0];
	if ((c[0] & 0xE0) == 0xC0)
		return ((c[0] & 0x1Fu) << 6) | (c[1] & 0x3Fu);
	if ((c[0] & 0xF0) == 0xE0)
		return ((c[0] & 0x0Fu) << 12) | ((c[1] & 0x3Fu) << 6) | (c[2] & 0x3Fu);
	if ((c[0] & 0xF8) == 0xF0)
		return ((c[0] & 0x07u) << 18) | ((c[1] & 0x3Fu) << 12) | ((c[2] & 0x3Fu) << 6) |
		       (c[3] & 0x3Fu);
	return 0xFFFFFFFFu;
}

static void fcell_end_line(struct fcell *fc, size_t start, int width)
{
	ALLOC_GROW(fc->lines, fc->nlines + 1, fc->alloc);
	fc->lines[fc->nlines].off = start;
	fc->lines[fc->nlines].len = fc->text.len - start;
	fc->lines[fc->nlines].width = width;
	fc->nlines++;
	if (width > fc->width)
		fc->width = width;
}

static void fcell_format(struct fcell *fc, const char *s, int encoding, bool utf8)
{
	size_t len = strlen(s), start = 0;
	int width = 0;

	strbuf_reset(&fc->text);
	fc->nlines = 0;
	fc->width = 0;
	while (*s && len > 0) {
		int chlen = PQmblen(s, encoding);
		int w;

		if (chlen < 1 || (size_t)chlen > len)
			break;
		w = PQdsplen(s, encoding);
		if (chlen == 1) {
			if (*s == '\n') {
				fcell_end_line(fc, start, width);
				width = 0;
				start = fc->text.len;
			} else if (*s == '\r') {
				strbuf_addstr(&fc->text, "\\r");
				width += 2;
			} else if (*s == '\t') {
				do {
					strbuf_addch(&fc->text, ' ');
					width++;
				} while (width % 8 != 0);
			} else if (w < 0) {
				strbuf_addf(&fc->text, "\\x%02X", (unsigned char)*s);
				width += 4;
			} else {
				strbuf_addch(&fc->text, *s);
				width += w;
			}
		} else if (w < 0) {
			if (utf8)
				strbuf_addf(&fc->text, "\\u%04X", utf8_code_point((const unsigned char *)s));
			else
				strbuf_addstr(&fc->text, "\\u????");
			width += 6;
		} else {
			strbuf_add(&fc->text, s, (size_t)chlen);
			width += w;
		}
		s += chlen;
		len -= (size_t)chlen;
	}
	fcell_end_line(fc, start, width);
}

/* right_aligned is psql's column_type_alignment(): numbers go right. */
static bool right_aligned(Oid type)
{
	switch (type) {
	case 20:   /* int8 */
	case 21:   /* int2 */
	case 23:   /* int4 */
	case 26:   /* oid */
	case 28:   /* xid */
	case 29:   /* cid */
	case 700:  /* float4 */
	case 701:  /* float8 */
	case 790:  /* money */
	case 1700: /* numeric */
	case 5069: /* xid8 */
		return true;
	default:
		return false;
	}
}

/* psqlfmt_table writes a result as psql's aligned format.  A result too big
 * to hold arrives in parts (block_run_statement): the first has the header, the
 * last the "(N rows)" footer with the total, and each part is aligned on
 * its own, as psql does with FETCH_COUNT. */
void psqlfmt_table_part(const PGresult *res, int encoding, bool utf8, bool header, bool footer,
			long long total, struct strbuf *out)
{
	int ncols = PQnfields(res), nrows = PQntuples(res);
	size_t n = (size_t)ncols + 1;
	int *width = xcalloc(n, sizeof(*width));
	bool *right = xcalloc(n, sizeof(*right));
	bool *done = xcalloc(n, sizeof(*done));
	size_t *cur = xcalloc(n, sizeof(*cur));
	struct fcell *cells = xcalloc(n, sizeof(*cells));

	for (int i = 0; i < ncols; i++) {
		strbuf_init(&cells[i].text, 0);
		fcell_format(&cells[i], PQfname(res, i), encoding, utf8);
		width[i] = cells[i].width;
		right[i] = right_aligned(PQftype(res, i));
	}
	for (int r = 0; r < nrows; r++)
		for (int i = 0; i < ncols; i++) {
			fcell_format(&cells[i], PQgetvalue(res, r, i), encoding, utf8);
			if (cells[i].width > width[i])
				width[i] = cells[i].width;
		}

	/* header: centred, '+' where a name goes on on the next line */
	if (header && ncols > 0) {
		int remaining = ncols;
		for (int i = 0; i < ncols; i++)
			fcell_format(&cells[i], PQfname(res, i), encoding, utf8);
		for (size_t k = 0; remaining > 0; k++) {
			for (int i = 0; i < ncols; i++) {
				strbuf_addch(out, ' ');
				if (!done[i]) {
					const struct fline *l = &cells[i].lines[k];
					int space = width[i] - l->width;
					strbuf_addchars(out, ' ', (size_t)(space / 2));
					strbuf_add(out, cells[i].text.buf + l->off, l->len);
					strbuf_addchars(out, ' ', (size_t)((space + 1) / 2));
					if (k + 1 >= cells[i].nlines) {
						done[i] = true;
						remaining--;
					}
				} else {
					strbuf_addchars(out, ' ', (size_t)width[i]);
				}
				strbuf_addch(out, done[i] ? ' ' : '+');
				if (i < ncols - 1)
					strbuf_addch(out, '|');
			}
			strbuf_addch(out, '\n');
		}
	}
	if (header) {
		strbuf_addch(out, '-');
		for (int i = 0; i < ncols; i++) {
			strbuf_addchars(out, '-', (size_t)width[i]);
			if (i < ncols - 1)
				strbuf_addstr(out, "-+-");
		}
		strbuf_addstr(out, "-\n");
	}

	for (int r = 0; r < nrows && ncols > 0; r++) {
		bool more;
		for (int i = 0; i < ncols; i++) {
			fcell_format(&cells[i], PQgetvalue(res, r, i), encoding, utf8);
			cur[i] = 0;
		}
		do {
			more = false;
			for (int j = 0; j < ncols; j++) {
				bool last = j == ncols - 1, newline;
				int chars = width[j];

				strbuf_addch(out, ' ');
				if (cur[j] >= cells[j].nlines) {
					if (!last)
						strbuf_addchars(out, ' ', (size_t)width[j]);
				} else {
					const struct fline *l = &cells[j].lines[cur[j]];
					chars = l->width;
					if (right[j])
						strbuf_addchars(out, ' ', (size_t)(width[j] - chars));
					strbuf_add(out, cells[j].text.buf + l->off, l->len);
					if (++cur[j] < cells[j].nlines)
						more = true;
				}
				newline = cur[j] < cells[j].nlines && cur[j] != 0;
				if (!right[j] && (!last || newline))
					strbuf_addchars(out, ' ', (size_t)(width[j] - chars));
				if (newline)
					strbuf_addch(out, '+');
				else if (!last)
					strbuf_addch(out, ' ');
				if (!last)
					strbuf_addch(out, '|');
			}
			strbuf_addch(out, '\n');
		} while (more);
	}
	if (footer)
		strbuf_addf(out, "(%lld row%s)\n\n", total, total == 1 ? "" : "s");

	for (int i = 0; i < ncols; i++) {
		strbuf_release(&cells[i].text);
		free(cells[i].lines);
	}
	free(cells);
	free(cur);
	free(done);
	free(right);
	free(width);
}

void psqlfmt_table(const PGresult *res, int encoding, bool utf8, struct strbuf *out)
{
	psqlfmt_table_part(res, encoding, utf8, true, true, PQntuples(res), out);
}

