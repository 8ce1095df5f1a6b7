/* replay.c - run saved inputs through a fuzz target once each, without libFuzzer.
 *
 *   replay_NAME FILE|DIR...
 *
 * Every regular file named, or found directly inside a directory named, is
 * read and passed to LLVMFuzzerTestOneInput().  Prints "replayed N inputs"
 * and exits 0; a bug shows as a crash or a sanitizer report.  Exits 2 when a
 * path cannot be read, so a misspelt corpus is never an empty success. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

static int replay_file(const char *path)
{
	struct strbuf data = STRBUF_INIT;
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		strbuf_add(&data, chunk, n);
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		fclose(f);
		strbuf_release(&data);
		return -1;
	}
	fclose(f);
	/* A copy of exactly len bytes, so that ASan sees any read past the end. */
	uint8_t *copy = xmalloc(data.len ? data.len : 1);
	memcpy(copy, data.buf, data.len);
	LLVMFuzzerTestOneInput(copy, data.len);
	free(copy);
	strbuf_release(&data);
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *path, size_t *count)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, alloc = 0;
	int ret = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		ALLOC_GROW(names, n + 1, alloc);
		names[n++] = xasprintf("%s/%s", path, de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), compare_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(names[i]) < 0)
				ret = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int ret = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			ret = 2;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) < 0)
				ret = 2;
		} else if (replay_file(argv[i]) < 0) {
			ret = 2;
		} else {
			count++;
		}
	}
	printf("replayed %zu inputs\n", count);
	return ret;
}
