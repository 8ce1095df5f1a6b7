/* shscan.h - read a bash script far enough to lint what it runs.
 *
 * shscan() splits a script (a ```bash block, one console command) into
 * simple commands and lists the variables it expands and sets:
 *
 *	struct sh_script s = SH_SCRIPT_INIT;
 *	shscan(block->text, strlen(block->text), &s);
 *	for (size_t i = 0; i < s.ncmds; i++)
 *		... s.cmds[i].words[0].text ...
 *	sh_script_release(&s);
 *
 * A command's words have their quotes removed and their escapes resolved,
 * and every byte remembers where in the script it came from, so that a
 * finding about `psql -c "..."` can point at the file's line and column.
 * Here-documents (`<<EOF`, `<<'EOF'`, `<<-EOF`) and here-strings (`<<<`) are
 * kept as the command's input.  Commands inside $(...) and `...` are listed
 * too, before the command that contains them.
 *
 * It is not a shell: nothing is expanded ("$VAR" stays "$VAR" in a word),
 * aliases, functions and eval are not followed, `case` patterns are not
 * understood.  It never fails: what it cannot make sense of (an unclosed
 * quote, a here-document without its end line) runs to the end of the
 * script.
 */
#ifndef RUNBOOK_SHSCAN_H
#define RUNBOOK_SHSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* A piece of text taken from the script, with its origin byte by byte. */
struct sh_text {
	char *text;  /* NUL-terminated */
	size_t len;
	size_t *map; /* map[i] is the script offset of text[i], for i < len;
			map[len] is the offset just past the last byte */
};

struct sh_command {
	struct sh_text *words; /* assignments first, then the command name and its arguments;
				  reserved words (if, then, do, !, time, {) dropped */
	size_t nwords, words_alloc;
	size_t nassign;        /* leading NAME=value words */
	struct sh_text *input; /* here-document bodies and here-strings, in order; a body
				  is the raw text between its two lines */
	size_t ninput, input_alloc;
	bool pipe_in;          /* stdin comes from the previous command through | */
	bool pipe_out;         /* stdout goes to the next command through | */
	bool subst;            /* inside $(...) or `...`: runs in a subshell */
	size_t offset;         /* where the command starts in the script */
};

/* A variable the script expands ($NAME, ${NAME...}) or sets. */
struct sh_var {
	char *name;
	size_t offset; /* of the '$' for an expansion, of the name for a definition */
};

struct sh_script {
	struct sh_command *cmds;
	size_t ncmds, cmds_alloc;
	struct sh_var *uses; /* in script order */
	size_t nuses, uses_alloc;
	/* Variables set for the rest of the script: plain assignments, export,
	 * declare/typeset/local/readonly, read, mapfile/readarray, printf -v,
	 * for/select, getopts.  Not those set inside a subshell or for one
	 * command (`NAME=value cmd`). */
	struct sh_var *defs;
	size_t ndefs, defs_alloc;
};

#define SH_SCRIPT_INIT { NULL, 0, 0, NULL, 0, 0, NULL, 0, 0 }

/* shscan reads len bytes of script (which need not be NUL-terminated) into
 * out, which must be empty (SH_SCRIPT_INIT).  It cannot fail. */
void shscan(const char *script, size_t len, struct sh_script *out);

/* sh_script_release frees everything out holds and empties it. */
void sh_script_release(struct sh_script *s);

/* sh_basename is the part of word after its last '/'. */
const char *sh_basename(const char *word);

/* sh_is_assignment says whether word (as it appears in a command) is
 * NAME=value or NAME+=value with NAME unquoted; *name_len gets NAME's length. */
bool sh_is_assignment(const struct sh_text *word, const char *script, size_t *name_len);

#endif
