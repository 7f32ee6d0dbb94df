/* The audit log's chain, and the inbox's logins and sessions, on a real
   SQLite file. */
#include <string.h>

#include <check.h>
#include <sodium.h>
#include <sqlite3.h>

#include "audit.h"
#include "clock.h"
#include "session.h"
#include "store.h"
#include "store_sqlite.h"	/* the tests alter the file behind its back */
#include "testutil.h"
#include "uuid.h"

#define R1	"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
#define R2	"age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg"

static char		 dir[64], db[128];
static struct store	*st;

static void
setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_ptr_nonnull(tu_tmpdir(dir, sizeof(dir), "check_audit"));
	ck_assert_ptr_nonnull(tu_path(db, sizeof(db), dir, "intake.db"));
	ck_assert_int_eq(store_open(db, STORE_CREATE, &st), 0);
}

static void
teardown(void)
{
	store_close(st);
	tu_rmtree(dir);
}

static void
exec_ok(const char *sql)
{
	ck_assert_int_eq(sqlite3_exec(sq(st)->db, sql, NULL, NULL, NULL),
	    SQLITE_OK);
}

static void
append(const char *action, const char *id)
{
	struct audit_event	ev = { "staff " R1, action, id, "192.0.2.7",
				    NULL };

	ck_assert_int_eq(audit_append(st, &ev), 0);
}

struct seen {
	int	n;
	char	actions[8][AUDIT_ACTION_MAX + 1];
};

static int
collect(void *arg, const struct audit_entry *e)
{
	struct seen	*s = arg;

	if (s->n < 8)
		snprintf(s->actions[s->n], sizeof(s->actions[0]), "%s",
		    e->action);
	s->n++;
	return 0;
}

START_TEST(chain_holds_and_breaks)
{
	struct seen	s = { 0 };
	int64_t		bad;

	ck_assert_int_eq(audit_verify(st, &bad), 0);	/* empty */
	append("login", NULL);
	append("view", "01a2c3d4-e5f6-7a8b-9c0d-1e2f3a4b5c6d");
	append("status", "01a2c3d4-e5f6-7a8b-9c0d-1e2f3a4b5c6d");
	append("logout", NULL);
	ck_assert_int_eq(audit_list(st, 0, collect, &s), 0);
	ck_assert_int_eq(s.n, 4);
	ck_assert_str_eq(s.actions[1], "view");
	ck_assert_int_eq(audit_verify(st, &bad), 0);
	ck_assert_int_eq(bad, -1);

	/* A field changed behind the store's back. */
	exec_ok("UPDATE audit SET client = '198.51.100.1' WHERE seq = 2");
	ck_assert_int_eq(audit_verify(st, &bad), ERR_AUTH);
	ck_assert_int_eq(bad, 2);
	exec_ok("UPDATE audit SET client = '192.0.2.7' WHERE seq = 2");
	ck_assert_int_eq(audit_verify(st, &bad), 0);
	/* A row removed: the next one no longer follows. */
	exec_ok("DELETE FROM audit WHERE seq = 3");
	ck_assert_int_eq(audit_verify(st, &bad), ERR_AUTH);
	ck_assert_int_eq(bad, 4);
}
END_TEST

START_TEST(events_are_checked_whole)
{
	struct audit_event	ev = { NULL, "view", NULL, NULL, NULL };
	char			long_detail[AUDIT_DETAIL_MAX + 2];

	ck_assert_int_eq(audit_append(st, &ev), ERR_INVAL);
	ev.actor = "x";
	ev.action = "";
	ck_assert_int_eq(audit_append(st, &ev), ERR_INVAL);
	memset(long_detail, 'd', sizeof(long_detail) - 1);
	long_detail[sizeof(long_detail) - 1] = '\0';
	ev.action = "view";
	ev.detail = long_detail;
	ck_assert_int_eq(audit_append(st, &ev), ERR_INVAL);
}
END_TEST

/* A status change and an erasure commit with their entry, or not at
   all: a missing inquiry leaves no entry. */
START_TEST(changes_carry_their_entry)
{
	struct audit_event	 ev = { "staff", "status", NULL, NULL, "open" };
	struct store_job	 j, *jp = &j;
	struct store_meta	 m;
	struct seen		 s = { 0 };

	memset(&j, 0, sizeof(j));
	j.received_at_ms = clock_now_ms();
	uuid_v7(j.received_at_ms, j.id);
	j.form = "consultation";
	j.ct = (const unsigned char *)"age";
	j.ctlen = 3;
	ck_assert_int_eq(store_insert(st, &jp, 1), 0);
	ck_assert_int_eq(store_get(st, j.id, &m, NULL), 0);
	ck_assert_str_eq(m.status, "new");
	ev.inquiry_id = j.id;
	ck_assert_int_eq(store_set_status(st, j.id, "open", &ev), 0);
	ck_assert_int_eq(store_get(st, j.id, &m, NULL), 0);
	ck_assert_str_eq(m.status, "open");
	ck_assert_int_eq(store_set_status(st, j.id, "bogus", &ev), ERR_INVAL);
	ck_assert_int_eq(store_set_status(st,
	    "01a2c3d4-e5f6-7a8b-9c0d-1e2f3a4b5c6d", "open", &ev),
	    ERR_NOTFOUND);
	ev.action = "delete";
	ev.detail = NULL;
	ck_assert_int_eq(store_delete(st, j.id, &ev), 0);
	ck_assert_int_eq(store_delete(st, j.id, &ev), ERR_NOTFOUND);
	ck_assert_int_eq(audit_list(st, 0, collect, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.actions[0], "status");
	ck_assert_str_eq(s.actions[1], "delete");
	ck_assert_int_eq(audit_verify(st, NULL), 0);
}
END_TEST

START_TEST(challenges_are_good_once)
{
	char	t[SESSION_TOKEN_STRLEN + 1], u[SESSION_TOKEN_STRLEN + 1];
	int64_t	now = 1790000000000LL;

	session_token(t);
	session_token(u);
	ck_assert_str_ne(t, u);
	ck_assert_uint_eq(strlen(t), SESSION_TOKEN_STRLEN);
	ck_assert_int_eq(session_challenge_put(st, t, R1, now + 60000), 0);
	/* Another key's token, a wrong one, a late one: refused. */
	ck_assert_int_eq(session_challenge_take(st, u, R1, now), ERR_NOTFOUND);
	ck_assert_int_eq(session_challenge_take(st, t, R2, now), ERR_NOTFOUND);
	/* The wrong recipient used it up: good once means once. */
	ck_assert_int_eq(session_challenge_take(st, t, R1, now), ERR_NOTFOUND);
	ck_assert_int_eq(session_challenge_put(st, u, R1, now + 60000), 0);
	ck_assert_int_eq(session_challenge_take(st, u, R1, now + 60001),
	    ERR_NOTFOUND);
	session_token(t);
	ck_assert_int_eq(session_challenge_put(st, t, R1, now + 60000), 0);
	ck_assert_int_eq(session_challenge_take(st, t, R1, now + 1000), 0);
	ck_assert_int_eq(session_challenge_take(st, t, R1, now + 1000),
	    ERR_NOTFOUND);
}
END_TEST

START_TEST(sessions_expire)
{
	struct session	s;
	char		t[SESSION_TOKEN_STRLEN + 1], c[SESSION_TOKEN_STRLEN + 1];
	int64_t		now = 1790000000000LL, idle = 1800000, max = 43200000;

	session_token(t);
	ck_assert_int_eq(session_put(st, t, R1, now), 0);
	ck_assert_int_eq(session_get(st, t, now + 1000, idle, max, &s), 0);
	ck_assert_str_eq(s.recipient, R1);
	/* Activity keeps it: 25 minutes apart, past the first half hour. */
	ck_assert_int_eq(session_get(st, t, now + 1500000, idle, max, &s), 0);
	ck_assert_int_eq(session_get(st, t, now + 3000000, idle, max, &s), 0);
	/* Idle too long: gone, and stays gone. */
	ck_assert_int_eq(session_get(st, t, now + 3000000 + idle + 1, idle,
	    max, &s), ERR_NOTFOUND);
	ck_assert_int_eq(session_get(st, t, now + 3000000, idle, max, &s),
	    ERR_NOTFOUND);
	/* The absolute limit ends even a busy one. */
	session_token(t);
	ck_assert_int_eq(session_put(st, t, R1, now), 0);
	ck_assert_int_eq(session_get(st, t, now + max + 1, max, max, &s),
	    ERR_NOTFOUND);
	/* Logout. */
	session_token(t);
	ck_assert_int_eq(session_put(st, t, R1, now), 0);
	ck_assert_int_eq(session_del(st, t), 0);
	ck_assert_int_eq(session_get(st, t, now, idle, max, &s), ERR_NOTFOUND);
	/* CSRF: derived from the token, checked in constant time. */
	session_csrf(t, c);
	ck_assert_int_eq(session_csrf_ok(t, c), 1);
	c[0] = c[0] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(session_csrf_ok(t, c), 0);
	ck_assert_int_eq(session_csrf_ok(t, NULL), 0);
	ck_assert_int_eq(session_csrf_ok(t, "short"), 0);
}
END_TEST

/* Only digests are stored: the database does not hold a usable token. */
START_TEST(tokens_are_not_stored)
{
	char		 t[SESSION_TOKEN_STRLEN + 1];
	sqlite3_stmt	*q;
	int		 n = 0;

	session_token(t);
	ck_assert_int_eq(session_put(st, t, R1, 1), 0);
	ck_assert_int_eq(session_challenge_put(st, t, R1, 2), 0);
	ck_assert_int_eq(sqlite3_prepare_v2(sq(st)->db, "SELECT count(*) FROM "
	    "sessions s, challenges c WHERE instr(s.digest, ?1) OR "
	    "instr(c.digest, ?1)", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, t, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(session_gc(st, 1000000, 1, 1), 0);
}
END_TEST

Suite *
audit_suite(void)
{
	Suite	*s = suite_create("audit");
	TCase	*tc = tcase_create("audit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, chain_holds_and_breaks);
	tcase_add_test(tc, events_are_checked_whole);
	tcase_add_test(tc, changes_carry_their_entry);
	tcase_add_test(tc, challenges_are_good_once);
	tcase_add_test(tc, sessions_expire);
	tcase_add_test(tc, tokens_are_not_stored);
	suite_add_tcase(s, tc);
	return s;
}
