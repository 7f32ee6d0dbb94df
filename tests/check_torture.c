/*
 * Allocation-failure torture for the load path, as curl's torture tests
 * do: every allocation snapshot_load makes (ours, jansson's, PCRE2's
 * through ours, libc's asprintf/realpath/fopen) is made to fail in turn,
 * and each load must either succeed whole or fail cleanly: an error code,
 * no snapshot, and (under check-asan) no leak. A load that "succeeds" with
 * a piece missing would crash on the first request.
 *
 * The Makefile links this suite with -Wl,--wrap for the allocators, so
 * the calls in libintake.a come here first. Counting is off outside the
 * load under test.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "snapshot.h"
#include "testutil.h"

void	*__real_malloc(size_t);
void	*__real_calloc(size_t, size_t);
void	*__real_realloc(void *, size_t);
void	*__real_reallocarray(void *, size_t, size_t);
char	*__real_strdup(const char *);
char	*__real_strndup(const char *, size_t);
char	*__real_realpath(const char *, char *);
FILE	*__real_fopen(const char *, const char *);

void	*__wrap_malloc(size_t);
void	*__wrap_calloc(size_t, size_t);
void	*__wrap_realloc(void *, size_t);
void	*__wrap_reallocarray(void *, size_t, size_t);
char	*__wrap_strdup(const char *);
char	*__wrap_strndup(const char *, size_t);
char	*__wrap_realpath(const char *, char *);
FILE	*__wrap_fopen(const char *, const char *);
int	 __wrap_asprintf(char **, const char *, ...);

static int	counting;
static long	calls, fail_at = -1;

/* 1 when this allocation is the one to fail. */
static int
fails(void)
{
	if (!counting)
		return 0;
	if (calls++ == fail_at) {
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

void *
__wrap_malloc(size_t n)
{
	return fails() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t sz)
{
	return fails() ? NULL : __real_calloc(n, sz);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return fails() ? NULL : __real_realloc(p, n);
}

void *
__wrap_reallocarray(void *p, size_t n, size_t sz)
{
	return fails() ? NULL : __real_reallocarray(p, n, sz);
}

char *
__wrap_strdup(const char *s)
{
	return fails() ? NULL : __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
	return fails() ? NULL : __real_strndup(s, n);
}

char *
__wrap_realpath(const char *p, char *out)
{
	return fails() ? NULL : __real_realpath(p, out);
}

FILE *
__wrap_fopen(const char *p, const char *mode)
{
	return fails() ? NULL : __real_fopen(p, mode);
}

int
__wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (fails()) {
		*out = NULL;
		return -1;
	}
	va_start(ap, fmt);
	n = vasprintf(out, fmt, ap);
	va_end(ap);
	return n;
}

/* jansson's allocations are counted through its hook. */
static void *
json_counted_malloc(size_t n)
{
	return __wrap_malloc(n);
}

static char	dir[64], conf[128];

static void
write_text(const char *name, const char *text)
{
	char	p[256];

	ck_assert_ptr_nonnull(tu_path(p, sizeof(p), dir, name));
	ck_assert_int_eq(tu_write_file(p, text, strlen(text), 0644), 0);
}

/* A config that uses every loader: two forms with subjects, the shipped
   schema and templates, recipients inline and from a file. */
static void
setup(void)
{
	char		 text[2048], *schema, *tpl;
	size_t		 len;

	/* Absolute: relative paths are taken from the config's directory. */
	tpl = realpath(getenv("INTAKE_TEMPLATES") ? getenv("INTAKE_TEMPLATES") :
	    "templates", NULL);
	ck_assert_ptr_nonnull(tpl);
	ck_assert_ptr_nonnull(tu_tmpdir(dir, sizeof(dir), "check_torture"));
	ck_assert_ptr_nonnull(tu_path(conf, sizeof(conf), dir, "t.conf"));
	schema = tu_read_file("config/forms/consultation.schema.json", &len);
	ck_assert_ptr_nonnull(schema);
	write_text("consultation.schema.json", schema);
	free(schema);
	write_text("staff.recipients", "# staff\n"
	    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n");
	snprintf(text, sizeof(text),
	    "[server]\ntemplates = %s\ntrusted_proxies = 127.0.0.1 ::1\n"
	    "[crypto]\n"
	    "recipients = age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n"
	    "recipients_file = staff.recipients\n"
	    "[mail]\nto = staff@example.com desk@example.com\n"
	    "[form consultation]\nschema = consultation.schema.json\n"
	    "honeypot = website\nreply_to = email\n"
	    "subject = New {{title}} inquiry {{id}}\n"
	    "cors_origins = https://www.example.com\n"
	    "attachments = application/pdf image/png\n"
	    "[form second]\nschema = consultation.schema.json\n"
	    "attachments = image/jpeg\n"
	    "subject = Second {{form}} {{id}}\n",
	    tpl);
	free(tpl);
	write_text("t.conf", text);
	ck_assert_int_ge(sodium_init(), 0);
	json_set_alloc_funcs(json_counted_malloc, free);
}

static void
teardown(void)
{
	counting = 0;
	tu_rmtree(dir);
}

/* Everything a request may touch is there. */
static void
assert_whole(const struct snapshot *s)
{
	size_t	i;

	ck_assert_ptr_nonnull(s->cfg);
	ck_assert_uint_eq(s->cfg->nforms, 2);
	for (i = 0; i < s->cfg->nforms; i++) {
		ck_assert_ptr_nonnull(s->schemas[i]);
		ck_assert_ptr_nonnull(s->subjects[i]);
	}
	ck_assert_ptr_nonnull(s->thanks);
	ck_assert_ptr_nonnull(s->error);
	ck_assert_ptr_nonnull(s->form_page);
	ck_assert_ptr_nonnull(s->mail.notify_txt);
	ck_assert_ptr_nonnull(s->mail.notify_html);
	ck_assert_ptr_nonnull(s->mail.ack_txt);
	ck_assert_uint_eq(s->nrcpts, 2);
}

static void
quiet(struct diag *d, const char *line)
{
	(void)d;
	if (getenv("SHOW_DIAG"))
		fprintf(stderr, "diag: %s\n", line);
}

START_TEST(each_allocation_fails_in_turn)
{
	struct snapshot	*s;
	struct diag	 d;
	long		 made;
	int		 r, failed = 0;

	for (fail_at = 0; ; fail_at++) {
		memset(&d, 0, sizeof(d));
		d.emit = quiet;
		calls = 0;
		counting = 1;
		r = snapshot_load(conf, &s, &d);
		counting = 0;
		made = calls;
		if (made <= fail_at) {
			/* Nothing failed this time: the whole load fits. */
			ck_assert_msg(r == 0, "clean load: %s", err_str(r));
			assert_whole(s);
			snapshot_unref(s);
			break;
		}
		if (r == 0) {
			assert_whole(s);
			snapshot_unref(s);
			continue;
		}
		failed++;
		ck_assert_msg(s == NULL, "allocation %ld: failed load left a "
		    "snapshot", fail_at);
		ck_assert_msg(r == ERR_NOMEM || r == ERR_IO || d.count > 0,
		    "allocation %ld: %s without a word", fail_at, err_str(r));
	}
	/* The torture did reach the load: most of its allocations are
	   necessary ones. */
	ck_assert_int_gt(failed, 50);
	fprintf(stderr, "torture: %ld allocations, each failed in turn\n",
	    fail_at);
}
END_TEST

Suite *
torture_suite(void)
{
	Suite	*s = suite_create("torture");
	TCase	*tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, each_allocation_fails_in_turn);
	suite_add_tcase(s, tc);
	return s;
}
