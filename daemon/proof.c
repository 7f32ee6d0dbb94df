#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "altcha.h"
#include "log.h"
#include "proof.h"

#define PROOF_FORMS	64	/* verifiers kept; forms are far fewer */

struct proof {
	char		*key_path;	/* or NULL: the credential only */
	unsigned char	 key[ALTCHA_KEY_LEN];
	int		 have_key;
	struct {
		char		 name[CONFIG_FORM_NAME_MAX + 1];
		unsigned long	 maxnumber;
		struct altcha	*a;
	} forms[PROOF_FORMS];
	size_t		 n;
};

struct proof *
proof_new(const char *key_path)
{
	struct proof	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if (key_path != NULL && (p->key_path = strdup(key_path)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void
proof_free(struct proof *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		altcha_free(p->forms[i].a);
	sodium_memzero(p->key, sizeof(p->key));
	free(p->key_path);
	free(p);
}

static void
key_problem(struct diag *d, const char *line)
{
	(void)d;
	log_warnx("proof of work: %s", line);
}

int
proof_prepare(struct proof *p, const struct config *cfg)
{
	struct diag	d = { 0, key_problem, NULL };
	size_t		i;

	for (i = 0; i < cfg->nforms && !cfg->forms[i].altcha; i++)
		continue;
	if (p->have_key || i == cfg->nforms)
		return 0;
	if (altcha_key_load(p->key_path, 1, p->key, &d) != 0)
		return ERR_IO;
	p->have_key = 1;
	return 0;
}

/*
 * The verifier of form fc. A form whose difficulty changed by a reload
 * keeps its verifier (and what it spent): an old challenge then still
 * passes until it expires, which is at most altcha_ttl.
 */
static struct altcha *
verifier(struct proof *p, const struct form_conf *fc)
{
	size_t	i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->forms[i].name, fc->name) == 0)
			return p->forms[i].a;
	if (!p->have_key || p->n == PROOF_FORMS || altcha_new(p->key, ALTCHA_REPLAY_DEFAULT,
	    &p->forms[p->n].a) != 0)
		return NULL;
	snprintf(p->forms[p->n].name, sizeof(p->forms[p->n].name), "%s",
	    fc->name);
	return p->forms[p->n++].a;
}

/* The salt's expiry is wall-clock Unix time, as the widget reads it. */
static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

int
proof_challenge(struct proof *p, const struct form_conf *fc, struct buf *out)
{
	struct altcha	*a = verifier(p, fc);

	if (a == NULL)
		return ERR_IO;
	return altcha_challenge(a, fc->altcha_maxnumber, now_s(),
	    (unsigned)fc->altcha_ttl_s, out);
}

int
proof_verify(struct proof *p, const struct form_conf *fc, const char *token,
    size_t len, struct altcha_spend *spend)
{
	struct altcha	*a = verifier(p, fc);

	if (a == NULL)
		return ERR_IO;
	return altcha_check(a, token, len, now_s(), spend);
}

const char *
proof_message(int r)
{
	switch (r) {
	case ERR_NOTFOUND:
		return "is missing: please wait until the check beside the "
		    "button says it is done, then send the form again";
	case ERR_EXPIRED:
		return "has expired: please send the form again";
	case ERR_REPLAYED:
		return "was already used: please send the form again";
	default:
		return "could not be verified: please send the form again";
	}
}
