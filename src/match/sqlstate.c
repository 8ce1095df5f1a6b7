/* sqlstate.c - SQLSTATE codes and condition names from PostgreSQL's errcodes.txt. */
#include "match/sqlstate.h"

#include <string.h>
#include <strings.h>

struct sqlstate_entry {
	const char *name;
	const char *code;
};

static const struct sqlstate_entry table[] = {
#include "match/sqlstate_table.inc"
};

#define NENTRIES (sizeof(table) / sizeof(table[0]))

bool sqlstate_known(const char *code, size_t len)
{
	if (len != 5)
		return false;
	for (size_t i = 0; i < NENTRIES; i++)
		if (!strncasecmp(table[i].code, code, 5))
			return true;
	return false;
}

const char *sqlstate_name(const char *code)
{
	if (!code)
		return NULL;
	for (size_t i = 0; i < NENTRIES; i++)
		if (!strcasecmp(table[i].code, code))
			return table[i].name;
	return NULL;
}

static bool name_equal(const char *entry, const char *name, size_t len)
{
	return strlen(entry) == len && !strncasecmp(entry, name, len);
}

bool sqlstate_name_is(const char *name, size_t len, const char *code)
{
	for (size_t i = 0; i < NENTRIES; i++)
		if (name_equal(table[i].name, name, len) && !strcasecmp(table[i].code, code))
			return true;
	return false;
}

bool sqlstate_is_name(const char *name, size_t len)
{
	for (size_t i = 0; i < NENTRIES; i++)
		if (name_equal(table[i].name, name, len))
			return true;
	return false;
}
