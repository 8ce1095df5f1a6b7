/* cli_new.c - `runbook new`: start a runbook from a template. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/mdparse.h"
#include "model/template.h"
#include "base/xalloc.h"
#include "base/wrapper.h"

#ifndef RUNBOOK_TEMPLATES_DIR
#define RUNBOOK_TEMPLATES_DIR "/usr/local/share/runbook/templates"
#endif

#define DEFAULT_TEMPLATE "manual-guide"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: runbook new TITLE [--template NAME] [-o FILE] [--set NAME=VALUE]... [--force]\n"
		"       runbook new --list [--template NAME]\n"
		"  -t, --template NAME   the template (default " DEFAULT_TEMPLATE "); a path with a '/' reads that file\n"
		"  -o, --output FILE     where to write (default: the title as a file name + .md;\n"
		"                        a directory: that name in it; - for standard output)\n"
		"  -s, --set NAME=VALUE  fill placeholder NAME, e.g. --set TABLE=users (repeatable)\n"
		"  -f, --force           overwrite FILE if it exists\n"
		"  -l, --list            list the templates; with --template, that template's placeholders\n"
		"Templates come from $RUNBOOK_TEMPLATES, else the templates/ directory of the\n"
		"source tree or installation this runbook belongs to.\n");
}

/* Where the template comes from: a name in the templates directory, or a
 * file named by a path. */
struct source {
	struct strbuf dir;  /* the templates directory; "" for a path */
	struct strbuf path; /* the file */
	struct strbuf name; /* the template's name */
};

static int find_dir(struct source *src)
{
	struct strbuf err = STRBUF_INIT;
	if (template_find_dir(RUNBOOK_TEMPLATES_DIR, &src->dir, &err) < 0) {
		fprintf(stderr, "runbook new: %s\n", err.buf);
		strbuf_release(&err);
		return -1;
	}
	strbuf_release(&err);
	return 0;
}

static void list_names(FILE *out, char **names, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", names[i]);
}

/* resolve finds the template file for arg; returns an exit code, EXIT_OK
 * when found. */
static int resolve(struct source *src, const char *arg)
{
	if (strchr(arg, '/')) {
		const char *base = strrchr(arg, '/') + 1;
		struct stat st;
		if (stat(arg, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "runbook new: no template file %s\n", arg);
			return EXIT_USAGE;
		}
		size_t len = strlen(base);
		strbuf_addstr(&src->path, arg);
		strbuf_add(&src->name, base, len > 3 && !strcmp(base + len - 3, ".md") ? len - 3 : len);
		return EXIT_OK;
	}
	if (find_dir(src) < 0)
		return EXIT_ENV;
	/* `--template add-nullable-column.md` names the same file */
	size_t alen = strlen(arg);
	char *bare = alen > 3 && !strcmp(arg + alen - 3, ".md") ? xmemdupz(arg, alen - 3) : xstrdup(arg);
	arg = bare;
	char **names = NULL;
	struct strbuf err = STRBUF_INIT;
	int n = template_names(src->dir.buf, &names, &err);
	int rc = EXIT_OK;
	bool found = false;
	for (int i = 0; i < n && !found; i++)
		found = !strcmp(names[i], arg);
	if (n < 0) {
		fprintf(stderr, "runbook new: %s\n", err.buf);
		rc = EXIT_ENV;
	} else if (!found || !template_name_ok(arg)) {
		fprintf(stderr, "runbook new: no template '%s' in %s; the templates are: ", arg, src->dir.buf);
		list_names(stderr, names, n);
		fprintf(stderr, "%s\n(see 'runbook new --list')\n", n ? "" : "(none)");
		rc = EXIT_USAGE;
	} else {
		strbuf_addf(&src->path, "%s/%s.md", src->dir.buf, arg);
		strbuf_addstr(&src->name, arg);
	}
	template_names_free(names, n > 0 ? (size_t)n : 0);
	strbuf_release(&err);
	free(bare);
	return rc;
}

static int open_template(struct template *t, const struct source *src)
{
	struct strbuf err = STRBUF_INIT;
	int rc = EXIT_OK;
	if (template_open(t, src->name.buf, src->path.buf, &err) < 0) {
		fprintf(stderr, "runbook new: %s\n", err.buf);
		rc = EXIT_INVALID;
	}
	strbuf_release(&err);
	return rc;
}

static int list_templates(void)
{
	struct source src = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };
	struct strbuf err = STRBUF_INIT;
	char **names = NULL;
	int n, rc = EXIT_OK;
	size_t width = 0;

	if (find_dir(&src) < 0) {
		rc = EXIT_ENV;
		goto out;
	}
	n = template_names(src.dir.buf, &names, &err);
	if (n < 0) {
		fprintf(stderr, "runbook new: %s\n", err.buf);
		rc = EXIT_ENV;
		goto out;
	}
	if (!n)
		fprintf(stderr, "runbook new: no templates in %s\n", src.dir.buf);
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) > width)
			width = strlen(names[i]);
	for (int i = 0; i < n; i++) {
		struct template t = TEMPLATE_INIT;
		char *path = xasprintf("%s/%s.md", src.dir.buf, names[i]);
		strbuf_reset(&err);
		if (template_open(&t, names[i], path, &err) < 0) {
			printf("%-*s  (unreadable: %s)\n", (int)width, names[i], err.buf);
			rc = EXIT_INVALID;
		} else {
			printf("%-*s  %s\n", (int)width, names[i], *t.description ? t.description : "(no description)");
		}
		template_release(&t);
		free(path);
	}
	template_names_free(names, n > 0 ? (size_t)n : 0);
out:
	strbuf_release(&src.dir);
	strbuf_release(&src.path);
	strbuf_release(&src.name);
	strbuf_release(&err);
	return rc;
}

static void list_placeholders(const struct template *t)
{
	size_t width = 5;
	printf("%s: %s\n%s\n\nplaceholders:\n", t->name, *t->description ? t->description : "(no description)",
	       t->path);
	for (size_t i = 0; i < t->nplaceholders; i++)
		if (strlen(t->placeholders[i].name) > width)
			width = strlen(t->placeholders[i].name);
	printf("  %-*s  %-6s  %s\n", (int)width, "TITLE", "text", "the TITLE argument");
	printf("  %-*s  %-6s  %s\n", (int)width, "DATE", "date", "today, YYYY-MM-DD");
	for (size_t i = 0; i < t->nplaceholders; i++) {
		const struct template_placeholder *ph = &t->placeholders[i];
		if (!ph->used)
			continue;
		printf("  %-*s  %-6s  %s%s%s%s\n", (int)width, ph->name, template_kind_name(ph->kind),
		       ph->description, ph->def ? " (default " : "", ph->def ? ph->def : "", ph->def ? ")" : "");
	}
}

static int check_title(const char *title)
{
	size_t len = strlen(title);
	bool blank = true;
	if (len > 200)
		return cli_usage_error("new", "the title is longer than 200 bytes");
	if (utf8_check(title, len))
		return cli_usage_error("new", "the title is not valid UTF-8");
	for (const char *p = title; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cli_usage_error("new", "the title holds a control character or line break");
		if (*p != ' ')
			blank = false;
	}
	if (blank)
		return cli_usage_error("new", "the title is empty");
	return EXIT_OK;
}

/* parse_sets checks every --set against the template and appends it to
 * values; returns an exit code. */
static int parse_sets(const struct template *t, char **sets, size_t nsets, struct template_value *values,
		      size_t *nvalues, char **names)
{
	for (size_t i = 0; i < nsets; i++) {
		const char *eq = strchr(sets[i], '=');
		struct strbuf err = STRBUF_INIT;
		size_t nlen = eq ? (size_t)(eq - sets[i]) : 0;
		names[i] = xmemdupz(sets[i], nlen);
		bool name_ok = nlen > 0;
		for (size_t k = 0; k < nlen && name_ok; k++)
			name_ok = (sets[i][k] >= 'A' && sets[i][k] <= 'Z') || sets[i][k] == '_' ||
				  (k && sets[i][k] >= '0' && sets[i][k] <= '9');
		if (!name_ok)
			return cli_usage_error("new", "--set %s: expected NAME=VALUE, NAME in capitals (e.g. TABLE=users)",
					       sets[i]);
		if (!strcmp(names[i], "TITLE"))
			return cli_usage_error("new", "--set TITLE: the title is the TITLE argument");
		const struct template_placeholder *ph = template_placeholder(t, names[i]);
		enum placeholder_kind kind = PH_DATE;
		if (strcmp(names[i], "DATE")) {
			if (!ph || !ph->used) {
				fprintf(stderr, "runbook new: --set %s: template %s has no placeholder %s; it has: TITLE, DATE",
					names[i], t->name, names[i]);
				for (size_t k = 0; k < t->nplaceholders; k++)
					if (t->placeholders[k].used)
						fprintf(stderr, ", %s", t->placeholders[k].name);
				fprintf(stderr, "\n(see 'runbook new --list --template %s')\n", t->name);
				return EXIT_USAGE;
			}
			kind = ph->kind;
		}
		if (template_check_value(names[i], kind, eq + 1, &err) < 0) {
			int rc = cli_usage_error("new", "--set %s", err.buf);
			strbuf_release(&err);
			return rc;
		}
		strbuf_release(&err);
		values[*nvalues].name = names[i];
		values[*nvalues].value = eq + 1;
		(*nvalues)++;
	}
	return EXIT_OK;
}


/* write_output creates path (O_EXCL unless force; never through a symlink)
 * and writes data to it; returns an exit code and says why it failed. */
static int write_output(const char *path, const struct strbuf *data, bool force)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL);
	int fd = open(path, flags, 0666);
	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "runbook new: %s already exists; use --force to overwrite it, or -o FILE\n",
				path);
		else if (errno == ELOOP)
			fprintf(stderr, "runbook new: %s is a symbolic link; not writing through it\n", path);
		else
			fprintf(stderr, "runbook new: cannot create %s: %s\n", path, strerror(errno));
		return EXIT_FAIL;
	}
	if (write_in_full(fd, data->buf, data->len) < 0 || close(fd) < 0) {
		fprintf(stderr, "runbook new: writing %s: %s\n", path, strerror(errno));
		if (!force)
			unlink(path);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static void today(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	if (!localtime_r(&now, &tm) || !strftime(buf, size, "%Y-%m-%d", &tm))
		snprintf(buf, size, "1970-01-01");
}

int cli_new(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "template", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "set", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *template_arg = NULL, *output = NULL;
	bool force = false, list = false;
	char **sets = NULL, **set_names = NULL;
	size_t nsets = 0, sets_alloc = 0, nvalues = 0, nleft = 0;
	struct template_value *values = NULL;
	const char **left = NULL;
	struct source src = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };
	struct template t = TEMPLATE_INIT;
	struct strbuf text = STRBUF_INIT, path = STRBUF_INIT;
	char date[16];
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "t:o:s:flh", opts, NULL)) != -1) {
		switch (c) {
		case 't': template_arg = optarg; break;
		case 'o': output = optarg; break;
		case 's':
			ALLOC_GROW(sets, nsets + 1, sets_alloc);
			sets[nsets++] = optarg;
			break;
		case 'f': force = true; break;
		case 'l': list = true; break;
		case 'h':
			usage(stdout);
			free(sets);
			return EXIT_OK;
		default:
			free(sets);
			return cli_usage_error("new", "unknown option");
		}
	}
	if (list && !template_arg) {
		free(sets);
		if (optind < argc)
			return cli_usage_error("new", "--list takes no TITLE");
		return list_templates();
	}
	if (!list && optind >= argc) {
		rc = cli_usage_error("new", "expected a TITLE, e.g. runbook new \"Add last_login_at to users\"");
		goto out;
	}
	if (optind + (list ? 0 : 1) < argc) {
		rc = cli_usage_error("new", "expected one TITLE; quote a title that has blanks");
		goto out;
	}
	if (!list && (rc = check_title(argv[optind])) != EXIT_OK)
		goto out;
	if ((rc = resolve(&src, template_arg ? template_arg : DEFAULT_TEMPLATE)) != EXIT_OK)
		goto out;
	if ((rc = open_template(&t, &src)) != EXIT_OK)
		goto out;
	if (list) {
		list_placeholders(&t);
		goto out;
	}

	today(date, sizeof(date));
	values = xcalloc(nsets + 2, sizeof(*values));
	set_names = xcalloc(nsets + 1, sizeof(*set_names));
	values[nvalues++] = (struct template_value){ "TITLE", argv[optind] };
	values[nvalues++] = (struct template_value){ "DATE", date };
	if ((rc = parse_sets(&t, sets, nsets, values, &nvalues, set_names)) != EXIT_OK)
		goto out;
	template_fill(&t, values, nvalues, &text, &left, &nleft);

	bool to_stdout = output && !strcmp(output, "-");
	FILE *msg = to_stdout ? stderr : stdout;
	if (to_stdout) {
		fwrite(text.buf, 1, text.len, stdout);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "runbook new: writing to standard output: %s\n", strerror(errno));
			rc = EXIT_FAIL;
			goto out;
		}
	} else {
		struct stat st;
		if (output && !(stat(output, &st) == 0 && S_ISDIR(st.st_mode))) {
			strbuf_addstr(&path, output);
		} else {
			if (output)
				strbuf_addf(&path, "%s%s", output, output[strlen(output) - 1] == '/' ? "" : "/");
			template_slug(argv[optind], &path);
			strbuf_addstr(&path, ".md");
		}
		if ((rc = write_output(path.buf, &text, force)) != EXIT_OK)
			goto out;
		fprintf(msg, "wrote %s from template %s\n", path.buf, t.name);
	}
	if (nleft) {
		fprintf(msg, "placeholders left to fill (marked __NAME__; or run again with --set NAME=VALUE):\n");
		size_t width = 0;
		for (size_t i = 0; i < nleft; i++)
			if (strlen(left[i]) > width)
				width = strlen(left[i]);
		/* in the order the template declares them */
		for (size_t k = 0; k < t.nplaceholders; k++)
			for (size_t i = 0; i < nleft; i++)
				if (left[i] == t.placeholders[k].name)
					fprintf(msg, "  __%s__%*s  %s\n", left[i], (int)(width - strlen(left[i])), "",
						t.placeholders[k].description);
	}
	fprintf(msg, "next: edit it, then run: runbook check %s\n", to_stdout ? "FILE" : path.buf);
out:
	if (set_names)
		for (size_t i = 0; i < nsets; i++)
			free(set_names[i]);
	free(set_names);
	free(values);
	free(sets);
	free(left);
	template_release(&t);
	strbuf_release(&text);
	strbuf_release(&path);
	strbuf_release(&src.dir);
	strbuf_release(&src.path);
	strbuf_release(&src.name);
	return rc;
}
