/* sqllex.h - SQL text read the way PostgreSQL's lexer and psql read it:
 * tokens, and the statements psql would send one by one.
 *
 * Scan a text once and read both lists:
 *
 *	struct sqllex lx = SQLLEX_INIT;
 *	sqllex_scan(&lx, text, strlen(text));
 *	for (size_t i = 0; i < lx.nstmts; i++)
 *		use(text + lx.stmts[i].offset, lx.stmts[i].len, lx.stmts[i].line);
 *	sqllex_release(&lx);
 *
 * What hides a semicolon (and everything else) is what hides it in psql
 * (psqlscan.l) with standard_conforming_strings on: `--` comments to the end
 * of the line, block comments that nest, '...' with '' for a quote, E'...'
 * with backslash escapes too, B'', X'', N'', U&'...' and U&"...",
 * "identifiers" with "", $$...$$ and $tag$...$tag$ bodies (a tag is a
 * letter, '_' or a byte >= 0x80, then those or digits; a '$' inside an
 * identifier, a$b, or after a number's letters, 1a$b$, starts none),
 * psql's :name, :'name' and :"name".  A semicolon ends a statement only
 * outside parentheses and, in CREATE [OR REPLACE] FUNCTION|PROCEDURE,
 * outside BEGIN ... END (CASE ... END inside it), as psql decides.
 *
 * A backslash outside quotes and comments starts a psql meta-command, which
 * runs to the end of its line: it is one token and a statement of its own
 * (`meta`), and it ends the statement before it.  A string, identifier,
 * comment or dollar quote that never closes swallows the rest of the text:
 * the scan goes on to the end and records the problem in `problem`; callers
 * that must refuse such text (the executor) refuse it, readers that only
 * look (the linter) read on.
 *
 * Lines count '\n' (so CRLF text has the lines of its LF twin, the '\r'
 * being a blank), columns count characters (UTF-8 lead bytes), both from 1.
 * libc only; nothing here prints, and none of it can fail.
 */
#ifndef RUNBOOK_SQLLEX_H
#define RUNBOOK_SQLLEX_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

enum sql_token_kind {
	SQL_TOKEN_WORD,         /* keyword or unquoted identifier: users, CREATE, a$b */
	SQL_TOKEN_QUOTED_IDENT, /* "Quoted ""ident""", U&"x" */
	SQL_TOKEN_STRING,       /* 'x', E'x', B'01', X'ff', N'x', U&'x' */
	SQL_TOKEN_DOLLAR,       /* $$body$$, $tag$body$tag$ */
	SQL_TOKEN_NUMBER,       /* 42, 1.5e3, .5 (and the junk letters psql keeps with them) */
	SQL_TOKEN_PARAM,        /* $1, psql variables :name :'name' :"name", a shell's $NAME */
	SQL_TOKEN_LPAREN,
	SQL_TOKEN_RPAREN,
	SQL_TOKEN_COMMA,
	SQL_TOKEN_SEMICOLON,
	SQL_TOKEN_DOT,
	SQL_TOKEN_OPERATOR, /* any other character, and "::" */
	SQL_TOKEN_META,     /* a psql meta-command, from its backslash to the end of the line */
};

struct sql_token {
	enum sql_token_kind kind;
	size_t offset, len; /* the token's bytes in the text, quotes and tags included */
	int line;           /* 1-based line in the text */
	int col;            /* 1-based column in the text, in characters */
	bool unterminated;  /* a string, identifier or dollar quote that never ends */
};

/* A statement as psql would send it. */
struct sql_statement {
	size_t first, ntokens; /* its tokens, tokens[first, first + ntokens), without the
				  semicolon that ends it */
	size_t offset, len;    /* its text: from its first token through that semicolon,
				  or, when none ends it, to where it stops with
				  trailing blanks left out; comments inside kept */
	int line, col;         /* of its first token */
	bool meta;             /* a psql meta-command: one token, its line */
};

enum sqllex_problem {
	SQLLEX_OK,
	SQLLEX_UNTERMINATED_COMMENT, /* a block comment that never ends */
	SQLLEX_UNTERMINATED_STRING,  /* '..., E'..., :'... */
	SQLLEX_UNTERMINATED_IDENT,   /* "..., U&"..., :"... */
	SQLLEX_UNTERMINATED_DOLLAR,  /* $tag$... without its closing $tag$ */
};

struct sqllex {
	struct sql_token *tokens; /* in text order; comments and blanks are not tokens */
	size_t ntokens, alloc_tokens;
	struct sql_statement *stmts; /* in text order; empty statements are dropped */
	size_t nstmts, alloc_stmts;
	/* The text's lexical problem, if any; only one is possible, since it
	 * swallows what follows.  problem_line is the line where the
	 * unclosed thing starts, problem_offset its first byte (the quote, the
	 * tag's '$', the comment's '/'), problem_len the length of its opening
	 * (the tag, for dollar quotes). */
	enum sqllex_problem problem;
	int problem_line;
	size_t problem_offset, problem_len;
};

#define SQLLEX_INIT { NULL, 0, 0, NULL, 0, 0, SQLLEX_OK, 0, 0, 0 }

/* sqllex_scan reads len bytes of text (a NUL byte among them is just a
 * character) into lx, which must be SQLLEX_INIT or released. */
void sqllex_scan(struct sqllex *lx, const char *text, size_t len);

/* sqllex_release frees the lists and leaves lx as SQLLEX_INIT. */
void sqllex_release(struct sqllex *lx);

/* sqllex_describe appends what is wrong with the text lx was scanned from
 * (text itself is needed for a dollar quote's tag): "unterminated quoted
 * string", "unterminated quoted identifier", "unterminated dollar-quoted
 * string $f$", or for a block comment "unterminated " + its opening + "
 * comment".  Nothing when lx->problem is SQLLEX_OK. */
void sqllex_describe(const struct sqllex *lx, const char *text, struct strbuf *out);

/* sqllex_is_word: t is the word `word` (ASCII, any case). */
bool sqllex_is_word(const char *text, const struct sql_token *t, const char *word);

#endif
