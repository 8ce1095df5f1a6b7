/* test_pgharness.c - the test harness's throwaway PostgreSQL answers libpq. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

static void connects_through_libpq(void **state)
{
	(void)state;
	const char *url = getenv("DATABASE_URL");
	assert_non_null(url);
	PGconn *conn = PQconnectdb(url);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_true(PQserverVersion(conn) >= 140000);
	PGresult *res = PQexec(conn, "SELECT current_user, current_setting('fsync'), "
				     "current_setting('listen_addresses')");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "postgres");
	assert_string_equal(PQgetvalue(res, 0, 1), "off");
	/* Unix socket only: no TCP listener */
	assert_string_equal(PQgetvalue(res, 0, 2), "");
	PQclear(res);
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connects_through_libpq),
	};
	return cmocka_run_group_tests_name("pgharness", tests, NULL, NULL);
}
