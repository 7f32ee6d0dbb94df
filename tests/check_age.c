/*
 * age module: the CCTV age test vectors, interoperability both ways with the
 * reference `age` / `age-keygen` binaries, tampering and truncation, strict
 * Bech32, key files.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>
#include <zlib.h>

#include "age.h"
#include "buf.h"
#include "testutil.h"

extern char	**environ;

#define VECTORS_X25519	67
#define MAX_VEC_IDS	8
#define ENC		(AGE_CHUNK + 16)
#define MiB		(1024 * 1024)

/* Each test runs in its own forked process; this is its scratch dir. */
static char	tmpdir[64];

static void
setup_tmpdir(void)
{
	ck_assert_ptr_nonnull(tu_tmpdir(tmpdir, sizeof(tmpdir), "check_age"));
	ck_assert_int_ge(sodium_init(), 0);
}

static void
teardown_tmpdir(void)
{
	tu_rmtree(tmpdir);
}

static char *
tpath(char *p, size_t size, const char *name)
{
	return tu_path(p, size, tmpdir, name);
}

static void
spew(const char *path, const void *p, size_t len)
{
	ck_assert_int_eq(tu_write_file(path, p, len, 0644), 0);
}

/* Runs argv with stdin from in (or /dev/null), stdout to out: exit code. */
static int
run(char *const argv[], const char *in, const char *out)
{
	posix_spawn_file_actions_t	fa;
	pid_t				pid;
	char				errp[256];
	int				st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	/* age-keygen's "Public key:" and age's errors: kept, not printed. */
	posix_spawn_file_actions_addopen(&fa, 2, tpath(errp, sizeof(errp),
	    "stderr"), O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static unsigned char *
pattern(size_t len, unsigned seed)
{
	unsigned char	 s[randombytes_SEEDBYTES] = { 0 };
	unsigned char	*p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	memcpy(s, &seed, sizeof(seed));
	randombytes_buf_deterministic(p, len, s);
	return p;
}

/* Header length of an age file: up to and including the MAC line. */
static size_t
hdr_len(const struct buf *ct)
{
	const char	*m, *nl;

	m = memmem(ct->data, ct->len, "\n--- ", 5);
	ck_assert_ptr_nonnull(m);
	nl = memchr(m + 1, '\n', ct->len - (size_t)(m + 1 - ct->data));
	ck_assert_ptr_nonnull(nl);
	return (size_t)(nl + 1 - ct->data);
}

/*
 * The test vectors.
 */

struct vector {
	char			 expect[32];
	char			 payload[65];
	struct age_identity	 ids[MAX_VEC_IDS];
	size_t			 nids;
	int			 compressed;
	int			 out_of_scope;
	unsigned char		*body;		/* the age file (inflated) */
	size_t			 bodylen;
};

static const char *
vectors_dir(char *p, size_t size)
{
	const char	*env = getenv("INTAKE_TESTDATA");
	struct stat	 sb;

	if (env != NULL) {
		snprintf(p, size, "%s/age/x25519", env);
		if (stat(p, &sb) == 0) {
			snprintf(p, size, "%s/age", env);
			return p;
		}
		snprintf(p, size, "%s", env);
		return p;
	}
	snprintf(p, size, "../shared/testdata/age");
	return p;
}

static unsigned char *
inflate_all(const unsigned char *in, size_t inlen, size_t *outlen)
{
	z_stream	 z;
	unsigned char	*out = NULL, *np;
	size_t		 cap = 0;
	int		 r = Z_OK;

	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(inflateInit(&z), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)inlen;
	*outlen = 0;
	while (r != Z_STREAM_END) {
		if (*outlen == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			ck_assert_uint_le(cap, 256u * MiB);
			ck_assert_ptr_nonnull(np = realloc(out, cap));
			out = np;
		}
		z.next_out = out + *outlen;
		z.avail_out = (uInt)(cap - *outlen);
		r = inflate(&z, Z_NO_FLUSH);
		ck_assert_msg(r == Z_OK || r == Z_STREAM_END, "inflate %d", r);
		*outlen = cap - z.avail_out;
	}
	inflateEnd(&z);
	return out;
}

static void
vector_kv(struct vector *v, const char *name, const char *k, const char *val)
{
	if (strcmp(k, "expect") == 0)
		snprintf(v->expect, sizeof(v->expect), "%s", val);
	else if (strcmp(k, "payload") == 0)
		snprintf(v->payload, sizeof(v->payload), "%s", val);
	else if (strcmp(k, "compressed") == 0)
		v->compressed = strcmp(val, "zlib") == 0;
	else if (strcmp(k, "passphrase") == 0 || strcmp(k, "armored") == 0)
		v->out_of_scope = 1;
	else if (strcmp(k, "identity") == 0) {
		ck_assert_uint_lt(v->nids, MAX_VEC_IDS);
		ck_assert_msg(age_identity_parse(val, &v->ids[v->nids]) ==
		    0, "%s: identity does not parse", name);
		v->nids++;
	}
}

/* Parses "key: value" lines, a blank line, then the age file. */
static void
vector_load(struct vector *v, const char *dir, const char *name)
{
	char		 path[1024], *line, *colon, *save = NULL;
	unsigned char	*raw, *sep, *inflated;
	size_t		 len;

	memset(v, 0, sizeof(*v));
	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", dir, name),
	    (int)sizeof(path));
	ck_assert_msg((raw = tu_read_file(path, &len)) != NULL,
	    "%s unreadable", path);
	sep = memmem(raw, len, "\n\n", 2);
	ck_assert_msg(sep != NULL, "%s: no blank line", name);
	*sep = '\0';
	for (line = strtok_r((char *)raw, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_ptr_nonnull(colon = strstr(line, ": "));
		*colon = '\0';
		vector_kv(v, name, line, colon + 2);
	}
	v->bodylen = len - (size_t)(sep + 2 - raw);
	ck_assert_ptr_nonnull(v->body = malloc(v->bodylen + 1));
	memcpy(v->body, sep + 2, v->bodylen);
	free(raw);
	if (v->compressed) {
		inflated = inflate_all(v->body, v->bodylen, &len);
		free(v->body);
		v->body = inflated;
		v->bodylen = len;
	}
}

static const char *
expect_name(int r)
{
	switch (r) {
	case 0:
		return "success";
	case ERR_NOKEY:
		return "no match";
	case ERR_AUTH:
		return "HMAC failure";
	case ERR_MALFORMED:
		return "header failure";
	case ERR_PAYLOAD:
		return "payload failure";
	default:
		return err_str(r);
	}
}

static void
sha256_hex(const struct buf *b, char hex[65])
{
	unsigned char	h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)(b->data ? b->data : ""),
	    b->len);
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

static void
vector_check(const char *dir, const char *name)
{
	struct vector	v;
	struct buf	out;
	char		hex[65];
	int		r;

	vector_load(&v, dir, name);
	ck_assert_msg(!v.out_of_scope, "%s: not an X25519 vector", name);
	ck_assert_msg(v.expect[0] != '\0', "%s: no expect", name);
	buf_init(&out, 0);
	r = v.nids ? age_decrypt(v.ids, v.nids, v.body, v.bodylen, &out) :
	    age_decrypt(v.ids, 1, v.body, v.bodylen, &out);
	ck_assert_msg(strcmp(expect_name(r), v.expect) == 0,
	    "%s: got \"%s\", want \"%s\"", name, expect_name(r), v.expect);
	if (r == 0 || r == ERR_PAYLOAD) {
		ck_assert_msg(v.payload[0] != '\0', "%s: no payload", name);
		sha256_hex(&out, hex);
		ck_assert_msg(strcmp(hex, v.payload) == 0,
		    "%s: payload %s, want %s", name, hex, v.payload);
	} else
		ck_assert_uint_eq(out.len, 0);
	buf_wipe(&out);
	free(v.body);
}

static int
in_scope(const char *name)
{
	return name[0] != '.' && strcmp(name, "README.md") != 0 &&
	    strncmp(name, "scrypt", 6) != 0 && strncmp(name, "armor", 5) != 0 &&
	    strncmp(name, "hybrid", 6) != 0;
}

START_TEST(test_vectors)
{
	char		 p[512];
	const char	*dir = vectors_dir(p, sizeof(p));
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	ck_assert_msg((d = opendir(dir)) != NULL, "no test vectors at %s",
	    dir);
	while ((de = readdir(d)) != NULL) {
		if (!in_scope(de->d_name))
			continue;
		vector_check(dir, de->d_name);
		n++;
	}
	closedir(d);
	ck_assert_int_eq(n, VECTORS_X25519);
}
END_TEST

/*
 * Keys and Bech32.
 */

/* A test-side Bech32 encoder over raw 5-bit groups, to forge edge cases. */
static uint32_t
t_polymod(const unsigned *v, size_t n, uint32_t chk)
{
	static const uint32_t	g[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
	    0x3d4233dd, 0x2a1462b3 };
	uint32_t		b;
	size_t			i;
	int			j;

	for (i = 0; i < n; i++) {
		b = chk >> 25;
		chk = ((chk & 0x1ffffff) << 5) ^ v[i];
		for (j = 0; j < 5; j++)
			if ((b >> j) & 1)
				chk ^= g[j];
	}
	return chk;
}

static void
t_bech32(const char *hrp, const unsigned *data, size_t n, char *out)
{
	static const char	cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
	unsigned		v[256];
	size_t			i, hl = strlen(hrp), nv = 0;
	uint32_t		chk;

	for (i = 0; i < hl; i++)
		v[nv++] = (unsigned char)hrp[i] >> 5;
	v[nv++] = 0;
	for (i = 0; i < hl; i++)
		v[nv++] = (unsigned char)hrp[i] & 31;
	memcpy(v + nv, data, n * sizeof(*data));
	memset(v + nv + n, 0, 6 * sizeof(*v));
	chk = t_polymod(v, nv + n + 6, 1) ^ 1;
	sprintf(out, "%s1", hrp);
	for (i = 0; i < n; i++)
		out[hl + 1 + i] = cs[data[i]];
	for (i = 0; i < 6; i++)
		out[hl + 1 + n + i] = cs[(chk >> (5 * (5 - i))) & 31];
	out[hl + 1 + n + 6] = '\0';
}

/* Bytes to 5-bit groups with zero padding: the number of groups. */
static size_t
to5(const unsigned char *p, size_t n, unsigned *v)
{
	uint32_t	acc = 0;
	size_t		i, nv = 0;
	int		bits = 0;

	for (i = 0; i < n; i++) {
		acc = ((acc << 8) | p[i]) & 0xffff;
		for (bits += 8; bits >= 5; bits -= 5)
			v[nv++] = (acc >> (bits - 5)) & 31;
	}
	if (bits)
		v[nv++] = (acc << (5 - bits)) & 31;
	return nv;
}

static void
upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

START_TEST(test_keys_roundtrip)
{
	struct age_identity	id, id2;
	struct age_recipient	r, r2;
	char			rs[AGE_RECIPIENT_STRLEN + 1];
	char			is[AGE_IDENTITY_STRLEN + 1];
	unsigned		v[64];
	char			forged[128];
	int			i;

	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(age_identity_generate(&id), 0);
		age_identity_recipient(&id, &r);
		ck_assert_int_eq(age_recipient_format(&r, rs), 0);
		ck_assert_int_eq(age_identity_format(&id, is), 0);
		ck_assert_uint_eq(strlen(rs), AGE_RECIPIENT_STRLEN);
		ck_assert_uint_eq(strlen(is), AGE_IDENTITY_STRLEN);
		ck_assert(strncmp(rs, "age1", 4) == 0);
		ck_assert(strncmp(is, "AGE-SECRET-KEY-1", 16) == 0);
		ck_assert_int_eq(age_recipient_parse(rs, &r2), 0);
		ck_assert_mem_eq(r.pk, r2.pk, AGE_KEY_LEN);
		ck_assert_int_eq(age_identity_parse(is, &id2), 0);
		ck_assert_mem_eq(id.sk, id2.sk, AGE_KEY_LEN);
		ck_assert_mem_eq(id.pk, id2.pk, AGE_KEY_LEN);
		/* Cross-check against the test encoder. */
		ck_assert_uint_eq(to5(r.pk, 32, v), 52);
		t_bech32("age", v, 52, forged);
		ck_assert_str_eq(forged, rs);
	}
	/* The CCTV identity formats back to the same string. */
	ck_assert_int_eq(age_identity_parse("AGE-SECRET-KEY-1EGTZVFFV20835NWYV6"
	    "270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0", &id), 0);
	age_identity_format(&id, is);
	ck_assert_str_eq(is, "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2"
	    "MMDKWYKLMGR48UAWX40Q2P2LM0");
	age_identities_wipe(&id, 1);
	ck_assert(sodium_is_zero(id.sk, sizeof(id.sk)));
}
END_TEST

START_TEST(test_bech32_reject)
{
	struct age_identity	 id, jid;
	struct age_recipient	 r, jr, saved;
	char			 rs[AGE_RECIPIENT_STRLEN + 1], bad[128];
	char			 is[AGE_IDENTITY_STRLEN + 1];
	unsigned		 v[64];
	unsigned char		 k33[33];
	size_t			 i;
	const char		*junk[] = { "", "age1", "age", "AGE1",
	    "AGE-SECRET-KEY-1", "age1 ", "\x80" };

	ck_assert_int_eq(age_identity_generate(&id), 0);
	age_identity_recipient(&id, &r);
	age_recipient_format(&r, rs);
	age_identity_format(&id, is);

	/* Bad checksum: every single-character substitution fails. */
	for (i = 4; i < AGE_RECIPIENT_STRLEN; i++) {
		strcpy(bad, rs);
		bad[i] = bad[i] == 'q' ? 'p' : 'q';
		ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	}
	strcpy(bad, is);
	bad[AGE_IDENTITY_STRLEN - 1] = bad[AGE_IDENTITY_STRLEN - 1] == 'Q' ?
	    'P' : 'Q';
	ck_assert_int_eq(age_identity_parse(bad, &jid), ERR_INVAL);

	/* Mixed case, and each kind in the other's case. */
	strcpy(bad, rs);
	for (i = 4; !(bad[i] >= 'a' && bad[i] <= 'z'); i++)
		;
	bad[i] = (char)(bad[i] - 32);
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	strcpy(bad, rs);
	upper(bad);
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	strcpy(bad, is);
	bad[0] = 'a';
	ck_assert_int_eq(age_identity_parse(bad, &jid), ERR_INVAL);
	for (i = 0; is[i]; i++)
		bad[i] = is[i] >= 'A' && is[i] <= 'Z' ? (char)(is[i] + 32) :
		    is[i];
	bad[i] = '\0';
	ck_assert_int_eq(age_identity_parse(bad, &jid), ERR_INVAL);

	/* Wrong HRP (with a valid checksum, same length for "agf"). */
	ck_assert_int_eq(age_identity_parse(rs, &jid), ERR_INVAL);
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	to5(r.pk, 32, v);
	t_bech32("agf", v, 52, bad);
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	t_bech32("age", v, 52, bad);
	ck_assert_int_eq(age_recipient_parse(bad, &jr), 0);
	t_bech32("age-secret-key-", v, 52, bad);
	upper(bad);
	ck_assert_int_eq(age_identity_parse(bad, &jid), 0);
	t_bech32("age-secret-key", v, 52, bad);
	upper(bad);
	ck_assert_int_eq(age_identity_parse(bad, &jid), ERR_INVAL);

	/* Wrong length with a valid checksum: 31 and 33 bytes. */
	t_bech32("age", v, to5(r.pk, 31, v), bad);
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	memset(k33, 7, sizeof(k33));
	t_bech32("age", v, to5(k33, 33, v), bad);
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	strcpy(bad, rs);
	bad[AGE_RECIPIENT_STRLEN - 1] = '\0';
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	strcpy(bad, rs);
	strcat(bad, "q");
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);

	/* Non-zero padding bits with a valid checksum. */
	to5(r.pk, 32, v);
	ck_assert_uint_eq(v[51] & 15, 0);
	v[51] |= 1;
	t_bech32("age", v, 52, bad);
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);

	/* Characters outside the charset, and junk. */
	strcpy(bad, rs);
	bad[20] = 'b';
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	bad[20] = '1';
	ck_assert_int_eq(age_recipient_parse(bad, &jr), ERR_INVAL);
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		ck_assert_int_eq(age_recipient_parse(junk[i], &jr), ERR_INVAL);
		ck_assert_int_eq(age_identity_parse(junk[i], &jid), ERR_INVAL);
	}
	ck_assert_int_eq(age_recipient_parse(NULL, &jr), ERR_INVAL);

	/* A failed parse leaves the output alone. */
	saved = r;
	ck_assert_int_eq(age_recipient_parse("age1qqqq", &r), ERR_INVAL);
	ck_assert_mem_eq(saved.pk, r.pk, AGE_KEY_LEN);
	strcpy(bad, rs);
	bad[AGE_RECIPIENT_STRLEN - 1] = bad[AGE_RECIPIENT_STRLEN - 1] == 'q' ?
	    'p' : 'q';
	ck_assert_int_eq(age_recipient_parse(bad, &r), ERR_INVAL);
	ck_assert_mem_eq(saved.pk, r.pk, AGE_KEY_LEN);
}
END_TEST

/*
 * Round trips and the file layout.
 */

static void
encrypt1(const struct age_identity *id, const void *pt, size_t len,
    struct buf *ct)
{
	struct age_recipient	r;

	age_identity_recipient(id, &r);
	buf_init(ct, 0);
	ck_assert_int_eq(age_encrypt(&r, 1, pt, len, ct), 0);
}

START_TEST(test_roundtrip_sizes)
{
	static const size_t	 sizes[] = { 0, 1, 2048, 65535, 65536, 65537,
	    131072, 131073, 3 * MiB };
	struct age_identity	 id;
	struct buf		 ct, pt;
	unsigned char		*p;
	size_t			 i, chunks;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = pattern(sizes[i], (unsigned)i);
		encrypt1(&id, p, sizes[i], &ct);
		/* One full final chunk for exact multiples, never an empty one. */
		chunks = sizes[i] ? (sizes[i] + AGE_CHUNK - 1) / AGE_CHUNK : 1;
		ck_assert_uint_eq(ct.len, hdr_len(&ct) + 16 + sizes[i] +
		    16 * chunks);
		ck_assert_uint_eq(hdr_len(&ct), 168);
		buf_init(&pt, 0);
		ck_assert_int_eq(age_decrypt(&id, 1, ct.data, ct.len, &pt),
		    0);
		ck_assert_uint_eq(pt.len, sizes[i]);
		ck_assert(sizes[i] == 0 || memcmp(pt.data, p, sizes[i]) == 0);
		buf_wipe(&pt);
		buf_free(&ct);
		free(p);
	}
	/* NOTES.md: a record of up to 64 KiB costs 200 bytes. */
	p = pattern(2048, 9);
	encrypt1(&id, p, 2048, &ct);
	ck_assert_uint_eq(ct.len, 2048 + 200);
	buf_free(&ct);
	free(p);
}
END_TEST

START_TEST(test_multi_recipients)
{
	struct age_identity	ids[AGE_MAX_STANZAS + 1], wrong, set[3];
	struct age_recipient	rs[AGE_MAX_STANZAS + 1];
	struct buf		ct, pt;
	size_t			i;
	const char		msg[] = "inquiry from test@example.com";

	for (i = 0; i <= AGE_MAX_STANZAS; i++) {
		ck_assert_int_eq(age_identity_generate(&ids[i]), 0);
		age_identity_recipient(&ids[i], &rs[i]);
	}
	ck_assert_int_eq(age_identity_generate(&wrong), 0);
	buf_init(&ct, 0);
	ck_assert_int_eq(age_encrypt(rs, 3, msg, sizeof(msg), &ct), 0);
	for (i = 0; i < 3; i++) {
		buf_init(&pt, 0);
		ck_assert_int_eq(age_decrypt(&ids[i], 1, ct.data, ct.len, &pt),
		    0);
		ck_assert_mem_eq(pt.data, msg, sizeof(msg));
		buf_wipe(&pt);
	}
	/* Several identities: the matching one may come anywhere. */
	set[0] = wrong;
	set[1] = ids[5];
	set[2] = ids[1];
	buf_init(&pt, 0);
	ck_assert_int_eq(age_decrypt(set, 2, ct.data, ct.len, &pt),
	    ERR_NOKEY);
	ck_assert_int_eq(age_decrypt(set, 3, ct.data, ct.len, &pt), 0);
	ck_assert_mem_eq(pt.data, msg, sizeof(msg));
	buf_wipe(&pt);
	buf_free(&ct);

	/* The cap: AGE_MAX_STANZAS recipients encrypt, one more does not. */
	buf_init(&ct, 0);
	ck_assert_int_eq(age_encrypt(rs, AGE_MAX_STANZAS + 1, msg,
	    sizeof(msg), &ct), ERR_INVAL);
	ck_assert_uint_eq(ct.len, 0);
	ck_assert_int_eq(age_encrypt(rs, AGE_MAX_STANZAS, msg, sizeof(msg),
	    &ct), 0);
	ck_assert_uint_le(hdr_len(&ct), AGE_MAX_HEADER);
	buf_init(&pt, 0);
	ck_assert_int_eq(age_decrypt(&ids[AGE_MAX_STANZAS - 1], 1, ct.data,
	    ct.len, &pt), 0);
	ck_assert_mem_eq(pt.data, msg, sizeof(msg));
	buf_wipe(&pt);
	ck_assert_int_eq(age_decrypt(&wrong, 1, ct.data, ct.len, &pt),
	    ERR_NOKEY);
	ck_assert_uint_eq(pt.len, 0);
	buf_free(&ct);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct age_identity	id;
	struct age_recipient	r, zero;
	struct buf		ct, small;
	unsigned char		p[100] = { 0 };

	ck_assert_int_eq(age_identity_generate(&id), 0);
	age_identity_recipient(&id, &r);
	buf_init(&ct, 0);
	ck_assert_int_eq(age_encrypt(&r, 0, p, 1, &ct), ERR_INVAL);
	ck_assert_int_eq(age_encrypt(NULL, 1, p, 1, &ct), ERR_INVAL);
	ck_assert_int_eq(age_encrypt(&r, 1, NULL, 1, &ct), ERR_INVAL);
	ck_assert_int_eq(age_decrypt(&id, 0, p, 1, &ct), ERR_INVAL);
	ck_assert_int_eq(age_decrypt(&id, 1, p, 0, &ct), ERR_MALFORMED);
	ck_assert_int_eq(age_decrypt(&id, 1, NULL, 0, &ct), ERR_MALFORMED);
	/* A low-order recipient key would make the shared secret zero. */
	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(age_encrypt(&zero, 1, p, 1, &ct), ERR_INVAL);
	ck_assert_int_eq(age_encrypt((struct age_recipient[]){ r, zero }, 2,
	    p, 1, &ct), ERR_INVAL);
	ck_assert_uint_eq(ct.len, 0);
	/* out's cap: nothing is left behind. */
	buf_init(&small, 150);
	ck_assert_int_eq(age_encrypt(&r, 1, p, sizeof(p), &small),
	    ERR_NOMEM);
	ck_assert_uint_eq(small.len, 0);
	ck_assert_int_eq(age_encrypt(&r, 1, p, sizeof(p), &ct), 0);
	ck_assert_int_eq(age_decrypt(&id, 1, ct.data, ct.len, &small),
	    0);
	buf_reset(&small);
	small.max = 50;
	ck_assert_int_eq(age_decrypt(&id, 1, ct.data, ct.len, &small),
	    ERR_NOMEM);
	ck_assert_uint_eq(small.len, 0);
	buf_free(&small);
	/* Decryption appends. */
	buf_init(&small, 0);
	buf_puts(&small, "prefix");
	ck_assert_int_eq(age_decrypt(&id, 1, ct.data, ct.len, &small),
	    0);
	ck_assert_uint_eq(small.len, 6 + sizeof(p));
	ck_assert_mem_eq(small.data, "prefix", 6);
	buf_free(&small);
	buf_free(&ct);
}
END_TEST

/*
 * Tampering.
 */

START_TEST(test_wrong_identity)
{
	struct age_identity	id, other[2];
	struct buf		ct, pt;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	ck_assert_int_eq(age_identity_generate(&other[0]), 0);
	ck_assert_int_eq(age_identity_generate(&other[1]), 0);
	encrypt1(&id, "x", 1, &ct);
	buf_init(&pt, 0);
	ck_assert_int_eq(age_decrypt(other, 2, ct.data, ct.len, &pt),
	    ERR_NOKEY);
	ck_assert_uint_eq(pt.len, 0);
	other[1] = id;
	ck_assert_int_eq(age_decrypt(other, 2, ct.data, ct.len, &pt), 0);
	ck_assert_uint_eq(pt.len, 1);
	buf_free(&pt);
	buf_free(&ct);
}
END_TEST

/* Decrypts a tampered copy: the result code, and how much was released. */
static int
try_decrypt(const struct age_identity *id, const void *ct, size_t len,
    size_t *released)
{
	struct buf	pt;
	int		r;

	buf_init(&pt, 0);
	r = age_decrypt(id, 1, ct, len, &pt);
	*released = pt.len;
	buf_wipe(&pt);
	return r;
}

START_TEST(test_header_bitflips)
{
	struct age_identity	 id;
	struct buf		 ct;
	unsigned char		*c;
	size_t			 i, h, rel;
	int			 bit, r;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	encrypt1(&id, "hello", 5, &ct);
	h = hdr_len(&ct);
	ck_assert_ptr_nonnull(c = malloc(ct.len));
	for (i = 0; i < h; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(c, ct.data, ct.len);
			c[i] ^= (unsigned char)(1u << bit);
			r = try_decrypt(&id, c, ct.len, &rel);
			ck_assert_msg(r == ERR_MALFORMED || r == ERR_AUTH ||
			    r == ERR_NOKEY, "byte %zu bit %d: %d", i, bit, r);
			ck_assert_uint_eq(rel, 0);
		}
	}
	/* Every bit of the payload nonce changes the key: chunk fails. */
	for (i = h; i < h + 16; i++) {
		memcpy(c, ct.data, ct.len);
		c[i] ^= 0x80;
		ck_assert_int_eq(try_decrypt(&id, c, ct.len, &rel),
		    ERR_PAYLOAD);
	}
	free(c);
	buf_free(&ct);
}
END_TEST

/* Rewrites the base64 field at p (n chars) with one decoded bit flipped. */
static void
flip_b64(char *p, size_t n, size_t byte)
{
	unsigned char	bin[64];
	char		enc[128];
	size_t		len;

	ck_assert_int_eq(sodium_base642bin(bin, sizeof(bin), p, n, NULL, &len,
	    NULL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING), 0);
	bin[byte] ^= 1;
	sodium_bin2base64(enc, sizeof(enc), bin, len,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	ck_assert_uint_eq(strlen(enc), n);
	memcpy(p, enc, n);
}

START_TEST(test_header_semantic)
{
	struct age_identity	 id;
	struct buf		 ct, t;
	char			*mac, *body;
	size_t			 h, rel, i;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	encrypt1(&id, "hello", 5, &ct);
	h = hdr_len(&ct);
	/* A flipped MAC bit: exactly an HMAC failure. */
	for (i = 0; i < 32; i++) {
		mac = memmem(ct.data, ct.len, "\n--- ", 5) + 5;
		flip_b64(mac, 43, i);
		ck_assert_int_eq(try_decrypt(&id, ct.data, ct.len, &rel),
		    ERR_AUTH);
		flip_b64(mac, 43, i);
	}
	/* A flipped bit in the wrapped file key: not our stanza. */
	body = strchr(strchr(ct.data, '\n') + 1, '\n') + 1;
	flip_b64(body, 43, 3);
	ck_assert_int_eq(try_decrypt(&id, ct.data, ct.len, &rel),
	    ERR_NOKEY);
	flip_b64(body, 43, 3);
	ck_assert_int_eq(try_decrypt(&id, ct.data, ct.len, &rel), 0);
	/*
	 * A byte >= 0x80 in any base64 field (share, body, MAC) is a header
	 * failure, not a different value (libsodium 1.0.18 would decode it).
	 */
	for (i = 0; i < h; i++) {
		if (ct.data[i] == '\n' || ct.data[i] == ' ' || i < 32)
			continue;
		ct.data[i] = (char)(ct.data[i] | 0x80);
		ck_assert_msg(try_decrypt(&id, ct.data, ct.len, &rel) ==
		    ERR_MALFORMED, "high byte at %zu", i);
		ct.data[i] = (char)(ct.data[i] & 0x7f);
	}
	ck_assert_int_eq(try_decrypt(&id, ct.data, ct.len, &rel), 0);
	/* An unknown stanza is skipped but MAC-covered. */
	buf_init(&t, 0);
	buf_append(&t, ct.data, (size_t)(body + 44 - ct.data));
	buf_puts(&t, "-> grease x\nAAAA\n");
	buf_append(&t, body + 44, ct.len - (size_t)(body + 44 - ct.data));
	ck_assert_int_eq(try_decrypt(&id, t.data, t.len, &rel), ERR_AUTH);
	buf_free(&t);
	/* A CRLF header line, a double space: header failures. */
	buf_init(&t, 0);
	buf_puts(&t, "age-encryption.org/v1\r");
	buf_append(&t, ct.data + 21, ct.len - 21);
	ck_assert_int_eq(try_decrypt(&id, t.data, t.len, &rel), ERR_MALFORMED);
	buf_reset(&t);
	buf_append(&t, ct.data, 21 + 3);
	buf_puts(&t, " ");
	buf_append(&t, ct.data + 24, ct.len - 24);
	ck_assert_int_eq(try_decrypt(&id, t.data, t.len, &rel), ERR_MALFORMED);
	buf_free(&t);
	/* Truncated header, truncated nonce. */
	for (i = 0; i < h + 16; i++)
		ck_assert_int_eq(try_decrypt(&id, ct.data, i, &rel),
		    ERR_MALFORMED);
	ck_assert_int_eq(try_decrypt(&id, ct.data, h + 16, &rel),
	    ERR_PAYLOAD);
	buf_free(&ct);
}
END_TEST

/* A header with unknown stanzas inserted before the MAC line. */
static void
grease_file(const struct buf *ct, size_t nstanzas, size_t bodylen,
    struct buf *t)
{
	const char	*footer = memmem(ct->data, ct->len, "\n--- ", 5) + 1;
	size_t		 i, j;

	buf_init(t, 0);
	buf_append(t, ct->data, (size_t)(footer - ct->data));
	for (i = 0; i < nstanzas; i++) {
		buf_puts(t, "-> grease\n");
		/* Full 64-column lines, then the mandatory short one. */
		for (j = 0; j + 48 <= bodylen; j += 48)
			buf_puts(t, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
			    "QUFBQUFBQUFBQUFBQUFB\n");
		buf_puts(t, "\n");
	}
	buf_append(t, footer, ct->len - (size_t)(footer - ct->data));
}

START_TEST(test_header_caps)
{
	struct age_identity	id;
	struct buf		ct, t;
	size_t			rel;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	encrypt1(&id, "hello", 5, &ct);
	/* Within the caps: parsed, so the MAC decides. */
	grease_file(&ct, AGE_MAX_STANZAS - 1, 0, &t);
	ck_assert_int_eq(try_decrypt(&id, t.data, t.len, &rel), ERR_AUTH);
	buf_free(&t);
	/* One stanza too many. */
	grease_file(&ct, AGE_MAX_STANZAS, 0, &t);
	ck_assert_int_eq(try_decrypt(&id, t.data, t.len, &rel), ERR_MALFORMED);
	buf_free(&t);
	/* A header past AGE_MAX_HEADER bytes. */
	grease_file(&ct, 1, AGE_MAX_HEADER, &t);
	ck_assert_int_eq(try_decrypt(&id, t.data, t.len, &rel), ERR_MALFORMED);
	buf_free(&t);
	grease_file(&ct, 1, AGE_MAX_HEADER / 2, &t);
	ck_assert_int_eq(try_decrypt(&id, t.data, t.len, &rel), ERR_AUTH);
	buf_free(&t);
	buf_free(&ct);
}
END_TEST

START_TEST(test_chunk_tamper)
{
	const size_t		 len = 2 * AGE_CHUNK + 100;
	struct age_identity	 id;
	struct buf		 ct, pt;
	unsigned char		*p, *c;
	size_t			 h, k, at[3], i;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	p = pattern(len, 3);
	encrypt1(&id, p, len, &ct);
	h = hdr_len(&ct) + 16;
	ck_assert_ptr_nonnull(c = malloc(ct.len));
	for (k = 0; k < 3; k++) {
		/* First byte, a middle byte, and the tag. */
		at[0] = h + k * ENC;
		at[1] = h + k * ENC + 50;
		at[2] = k < 2 ? h + k * ENC + ENC - 1 : ct.len - 1;
		for (i = 0; i < 3; i++) {
			memcpy(c, ct.data, ct.len);
			c[at[i]] ^= 0x10;
			buf_init(&pt, 0);
			ck_assert_int_eq(age_decrypt(&id, 1, c, ct.len, &pt),
			    ERR_PAYLOAD);
			/* The chunks before the bad one were released. */
			ck_assert_uint_eq(pt.len, k * AGE_CHUNK);
			ck_assert(pt.len == 0 || memcmp(pt.data, p, pt.len) == 0);
			buf_wipe(&pt);
		}
	}
	free(c);
	free(p);
	buf_free(&ct);
}
END_TEST

START_TEST(test_truncation)
{
	static const size_t	 sizes[] = { 0, 100, AGE_CHUNK, 2 * AGE_CHUNK,
	    2 * AGE_CHUNK + 100 };
	struct age_identity	 id;
	struct buf		 ct;
	unsigned char		*p;
	size_t			 i, k, h, rel, nchunks;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = pattern(sizes[i], 4);
		encrypt1(&id, p, sizes[i], &ct);
		h = hdr_len(&ct) + 16;
		nchunks = (ct.len - h + ENC - 1) / ENC;
		/* Cut at every chunk boundary before the end. */
		for (k = 0; k < nchunks; k++) {
			ck_assert_int_eq(try_decrypt(&id, ct.data, h + k * ENC,
			    &rel), ERR_PAYLOAD);
			ck_assert_uint_eq(rel, k * AGE_CHUNK);
		}
		/* One byte short, in every case. */
		ck_assert_int_eq(try_decrypt(&id, ct.data, ct.len - 1, &rel),
		    ERR_PAYLOAD);
		ck_assert_uint_eq(rel, (nchunks - 1) * AGE_CHUNK);
		ck_assert_int_eq(try_decrypt(&id, ct.data, ct.len, &rel),
		    0);
		ck_assert_uint_eq(rel, sizes[i]);
		buf_free(&ct);
		free(p);
	}
}
END_TEST

START_TEST(test_appended)
{
	static const size_t	 sizes[] = { 0, 100, AGE_CHUNK, AGE_CHUNK + 1,
	    2 * AGE_CHUNK };
	static const size_t	 extra[] = { 1, 17, ENC, ENC + 5 };
	struct age_identity	 id;
	struct buf		 ct;
	unsigned char		*p;
	size_t			 i, j, rel, full;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = pattern(sizes[i], 5);
		encrypt1(&id, p, sizes[i], &ct);
		full = ct.len;
		for (j = 0; j < sizeof(extra) / sizeof(extra[0]); j++) {
			while (ct.len < full + extra[j])
				buf_putc(&ct, 'A');
			ck_assert_int_eq(try_decrypt(&id, ct.data, ct.len,
			    &rel), ERR_PAYLOAD);
			/*
			 * A full final chunk verifies before the trailing data
			 * is seen; a short one absorbs the bytes and fails.
			 */
			if (sizes[i] > 0 && sizes[i] % AGE_CHUNK == 0)
				ck_assert_uint_eq(rel, sizes[i]);
			else
				ck_assert_uint_eq(rel, sizes[i] / AGE_CHUNK *
				    AGE_CHUNK);
			ct.len = full;
		}
		buf_free(&ct);
		free(p);
	}
}
END_TEST

/*
 * Streaming.
 */

static void
stream_encrypt(const struct age_recipient *r, size_t nr,
    const unsigned char *p, size_t len, struct buf *ct)
{
	static const size_t	 pieces[] = { 1, 1000, AGE_CHUNK, 70000, 7 };
	struct age_enc		*e;
	size_t			 off = 0, n, i = 0;

	buf_init(ct, 0);
	ck_assert_int_eq(age_enc_begin(&e, r, nr, ct), 0);
	ck_assert_int_eq(age_enc_update(e, p, 0, ct), 0);
	while (off < len) {
		n = pieces[i++ % (sizeof(pieces) / sizeof(pieces[0]))];
		n = n < len - off ? n : len - off;
		ck_assert_int_eq(age_enc_update(e, p + off, n, ct), 0);
		off += n;
	}
	ck_assert_int_eq(age_enc_finish(e, ct), 0);
}

START_TEST(test_stream_api)
{
	static const size_t	 sizes[] = { 0, 1, 65535, 65536, 65537,
	    131072, 200000 };
	struct age_identity	 id;
	struct age_recipient	 r;
	struct age_enc		*e;
	struct buf		 ct, one, pt;
	unsigned char		*p;
	size_t			 i;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	age_identity_recipient(&id, &r);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = pattern(sizes[i], 6);
		stream_encrypt(&r, 1, p, sizes[i], &ct);
		/* Same layout as the one-shot API. */
		encrypt1(&id, p, sizes[i], &one);
		ck_assert_uint_eq(ct.len, one.len);
		buf_init(&pt, 0);
		ck_assert_int_eq(age_decrypt(&id, 1, ct.data, ct.len, &pt),
		    0);
		ck_assert_uint_eq(pt.len, sizes[i]);
		ck_assert(sizes[i] == 0 || memcmp(pt.data, p, sizes[i]) == 0);
		buf_wipe(&pt);
		buf_free(&one);
		buf_free(&ct);
		free(p);
	}
	/* Abort frees; bad arguments are refused. */
	buf_init(&ct, 0);
	ck_assert_int_eq(age_enc_begin(&e, &r, 1, &ct), 0);
	ck_assert_int_eq(age_enc_update(e, "abc", 3, &ct), 0);
	age_enc_abort(e);
	age_enc_abort(NULL);
	ck_assert_int_eq(age_enc_begin(&e, &r, 0, &ct), ERR_INVAL);
	ck_assert_ptr_null(e);
	ck_assert_int_eq(age_enc_finish(NULL, &ct), ERR_INVAL);
	buf_free(&ct);
}
END_TEST

/*
 * Key files.
 */

START_TEST(test_recipients_file)
{
	struct age_identity	 id[2];
	struct age_recipient	 rr, *r = NULL;
	struct buf		 text, msgs;
	struct diag		 d = { 0, tu_diag_buf, &msgs };
	char			 path[256], rs[2][AGE_RECIPIENT_STRLEN + 1];
	char			 want[512];
	size_t			 n = 0;
	int			 i;

	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(age_identity_generate(&id[i]), 0);
		age_identity_recipient(&id[i], &rr);
		age_recipient_format(&rr, rs[i]);
	}
	buf_init(&text, 0);
	buf_init(&msgs, 0);
	buf_printf(&text, "# staff keys\n\n%s\n# second\r\n%s\r\n\n", rs[0],
	    rs[1]);
	spew(tpath(path, sizeof(path), "ok.txt"), text.data, text.len);
	ck_assert_int_eq(age_recipients_file_read(path, &r, &n, &d), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(r[0].pk, id[0].pk, 32);
	ck_assert_mem_eq(r[1].pk, id[1].pk, 32);
	/* A second file appends. */
	ck_assert_int_eq(age_recipients_file_read(path, &r, &n, &d), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(d.count, 0);

	/* Bad lines are reported as file:line and change nothing. */
	buf_reset(&text);
	buf_printf(&text, "%s\n# fine\n%.61s\n %s\nAGE1QQQ\n", rs[0], rs[1],
	    rs[0]);
	spew(tpath(path, sizeof(path), "bad.txt"), text.data, text.len);
	ck_assert_int_eq(age_recipients_file_read(path, &r, &n, &d),
	    ERR_INVAL);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(d.count, 3);
	snprintf(want, sizeof(want), "%s:3: ", path);
	ck_assert_ptr_nonnull(strstr(msgs.data, want));
	snprintf(want, sizeof(want), "%s:4: ", path);
	ck_assert_ptr_nonnull(strstr(msgs.data, want));
	snprintf(want, sizeof(want), "%s:5: ", path);
	ck_assert_ptr_nonnull(strstr(msgs.data, want));

	/* Empty, missing. */
	spew(tpath(path, sizeof(path), "empty.txt"), "# none\n\n", 8);
	ck_assert_int_eq(age_recipients_file_read(path, &r, &n, &d),
	    ERR_INVAL);
	ck_assert_int_eq(age_recipients_file_read(tpath(path, sizeof(path),
	    "missing"), &r, &n, &d), ERR_IO);
	ck_assert_uint_eq(d.count, 5);
	ck_assert_uint_eq(n, 4);
	free(r);
	buf_free(&text);
	buf_free(&msgs);
}
END_TEST

/* "# label: NAME" just above a key names it; the file stays one age -R
   reads, and a label is cleaned and capped. */
START_TEST(test_recipient_labels)
{
	struct age_identity	 id;
	struct age_recipient	 rr, *r = NULL;
	struct buf		 text;
	struct diag		 d = { 0, NULL, NULL };
	char			 path[256], outp[256], rs[AGE_RECIPIENT_STRLEN + 1];
	char			*argv[6], long_label[200];
	size_t			 n = 0, i;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	age_identity_recipient(&id, &rr);
	age_recipient_format(&rr, rs);
	memset(long_label, 0, sizeof(long_label));
	for (i = 0; i < 30; i++)	/* 60 bytes of "é" */
		memcpy(long_label + 2 * i, "\xc3\xa9", 2);
	buf_init(&text, 0);
	buf_printf(&text, "# label: Dr. Example Rao  \n%s\n"
	    "# label:\x1b[31mred\xe2\x80\xae fdp.exe\r\n%s\r\n"
	    "# label: not the next key\n\n%s\n"
	    "# just a comment\n%s\n"
	    "# label: %s\n%s\n", rs, rs, rs, rs, long_label, rs);
	spew(tpath(path, sizeof(path), "labels.txt"), text.data, text.len);
	ck_assert_int_eq(age_recipients_file_read(path, &r, &n, &d), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(r[0].label, "Dr. Example Rao");
	ck_assert_str_eq(r[1].label, "?[31mred? fdp.exe");
	ck_assert_str_eq(r[2].label, "");
	ck_assert_str_eq(r[3].label, "");
	ck_assert_uint_eq(strlen(r[4].label), AGE_LABEL_MAX);	/* 24 é */
	ck_assert_int_eq(memcmp(r[4].label, long_label, AGE_LABEL_MAX), 0);
	/* A key on the first line, no comment before it: no label (the
	   reader's state starts clean; a reload crashed on this). */
	free(r);
	r = NULL;
	n = 0;
	buf_reset(&text);
	buf_printf(&text, "%s\n", rs);
	spew(tpath(path, sizeof(path), "nolabel.txt"), text.data, text.len);
	ck_assert_int_eq(age_recipients_file_read(path, &r, &n, &d), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(r[0].label, "");
	/* The reference tool reads the same file. */
	argv[0] = "age";
	argv[1] = "-R";
	argv[2] = path;
	argv[3] = "-o";
	argv[4] = tpath(outp, sizeof(outp), "labels.age");
	argv[5] = NULL;
	ck_assert_int_eq(run(argv, path, NULL), 0);
	free(r);
	buf_free(&text);
}
END_TEST

START_TEST(test_identities_file)
{
	struct age_identity	 id[2], *ids = NULL;
	struct buf		 text, msgs;
	struct diag		 d = { 0, tu_diag_buf, &msgs };
	char			 path[256], is[2][AGE_IDENTITY_STRLEN + 1];
	char			 want[300];
	size_t			 n = 0;
	int			 i;

	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(age_identity_generate(&id[i]), 0);
		age_identity_format(&id[i], is[i]);
	}
	buf_init(&text, 0);
	buf_init(&msgs, 0);
	buf_printf(&text, "# created: 2024-01-01T00:00:00Z\n# public key: "
	    "age1xyz\n%s\n\n%s", is[0], is[1]);
	spew(tpath(path, sizeof(path), "k.txt"), text.data, text.len);
	ck_assert_int_eq(age_identities_file_read(path, &ids, &n, &d), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(ids[1].sk, id[1].sk, 32);
	ck_assert_mem_eq(ids[1].pk, id[1].pk, 32);
	ck_assert_int_eq(age_identities_file_read(path, &ids, &n, &d), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(ids[2].sk, id[0].sk, 32);

	/* A lowercase key, a NUL inside a line. */
	buf_reset(&text);
	for (i = 0; is[0][i]; i++)
		buf_putc(&text, is[0][i] >= 'A' && is[0][i] <= 'Z' ?
		    (char)(is[0][i] + 32) : is[0][i]);
	buf_printf(&text, "\n%s", is[1]);
	buf_append(&text, "\0x\n", 3);
	spew(tpath(path, sizeof(path), "bad.txt"), text.data, text.len);
	ck_assert_int_eq(age_identities_file_read(path, &ids, &n, &d),
	    ERR_INVAL);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(d.count, 2);
	snprintf(want, sizeof(want), "%s:1: ", path);
	ck_assert_ptr_nonnull(strstr(msgs.data, want));
	snprintf(want, sizeof(want), "%s:2: ", path);
	ck_assert_ptr_nonnull(strstr(msgs.data, want));
	/* No secret material in the diagnostics. */
	ck_assert_ptr_null(strstr(msgs.data, is[1] + 16));
	spew(tpath(path, sizeof(path), "empty.txt"), "", 0);
	ck_assert_int_eq(age_identities_file_read(path, &ids, &n, &d),
	    ERR_INVAL);
	age_identities_free(ids, n);
	buf_wipe(&text);
	buf_free(&msgs);
}
END_TEST

START_TEST(test_identity_file_write)
{
	struct age_identity	 id, *ids = NULL;
	struct age_recipient	 r;
	struct stat		 sb;
	char			 path[256], out[256], rs[AGE_RECIPIENT_STRLEN + 1];
	char			 is[AGE_IDENTITY_STRLEN + 1], want[256];
	unsigned char		*text, *text2;
	size_t			 len, len2, n = 0;
	int			 fd, saved;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	age_identity_recipient(&id, &r);
	age_recipient_format(&r, rs);
	age_identity_format(&id, is);
	tpath(path, sizeof(path), "key.txt");
	ck_assert_int_eq(age_identity_file_write(path, &id), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_ptr_nonnull(text = tu_read_file(path, &len));
	ck_assert_uint_eq(len, 32 + 14 + 62 + 1 + 74 + 1);
	ck_assert(strncmp((char *)text, "# created: ", 11) == 0);
	ck_assert(text[15] == '-' && text[18] == '-' && text[21] == 'T' &&
	    text[24] == ':' && text[27] == ':' && text[30] == 'Z');
	snprintf(want, sizeof(want), "\n# public key: %s\n%s\n", rs, is);
	ck_assert_str_eq((char *)text + 31, want);
	/* Never overwritten. */
	ck_assert_int_eq(age_identity_file_write(path, &id), ERR_EXIST);
	ck_assert_ptr_nonnull(text2 = tu_read_file(path, &len2));
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(text2, text, len);
	ck_assert_int_eq(age_identity_file_write(tpath(out, sizeof(out),
	    "nodir/key.txt"), &id), ERR_IO);
	/* It reads back. */
	ck_assert_int_eq(age_identities_file_read(path, &ids, &n, NULL),
	    0);
	ck_assert_mem_eq(ids[0].sk, id.sk, 32);
	age_identities_free(ids, n);
	/* "-" is stdout. */
	fflush(stdout);
	saved = dup(1);
	fd = open(tpath(out, sizeof(out), "stdout"), O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	dup2(fd, 1);
	close(fd);
	ck_assert_int_eq(age_identity_file_write("-", &id), 0);
	dup2(saved, 1);
	close(saved);
	free(text2);
	ck_assert_ptr_nonnull(text2 = tu_read_file(out, &len2));
	ck_assert_uint_eq(len2, len);
	ck_assert_str_eq((char *)text2 + 31, want);
	sodium_memzero(text, len);
	free(text);
	free(text2);
}
END_TEST

/*
 * Interoperability with the reference age and age-keygen.
 */

static const size_t	interop_sizes[] = { 0, 1, 65535, 65536, 65537, 131072,
    3 * MiB };
#define NSIZES	(sizeof(interop_sizes) / sizeof(interop_sizes[0]))

/* age-keygen -o tmp/kN.txt; loads it and checks the printed public key. */
static void
keygen(int i, struct age_identity *id, struct age_recipient *r,
    char *keypath, size_t size)
{
	char			 name[32], rs[AGE_RECIPIENT_STRLEN + 1];
	char			 want[128], *argv[4];
	struct age_identity	*ids = NULL;
	unsigned char		*text;
	size_t			 n = 0, len;

	snprintf(name, sizeof(name), "k%d.txt", i);
	tpath(keypath, size, name);
	argv[0] = "age-keygen";
	argv[1] = "-o";
	argv[2] = keypath;
	argv[3] = NULL;
	ck_assert_msg(run(argv, NULL, NULL) == 0, "age-keygen failed");
	ck_assert_int_eq(age_identities_file_read(keypath, &ids, &n, NULL),
	    0);
	ck_assert_uint_eq(n, 1);
	*id = ids[0];
	age_identities_free(ids, n);
	age_identity_recipient(id, r);
	age_recipient_format(r, rs);
	ck_assert_ptr_nonnull(text = tu_read_file(keypath, &len));
	snprintf(want, sizeof(want), "# public key: %s\n", rs);
	ck_assert_msg(strstr((char *)text, want) != NULL,
	    "derived recipient differs from age-keygen's");
	sodium_memzero(text, len);
	free(text);
}

/* age -d -i key ct > out; compares out with p. */
static void
age_decrypts(const char *key, const struct buf *ct, const unsigned char *p,
    size_t len)
{
	char		 ctp[256], outp[256], *argv[5];
	unsigned char	*got;
	size_t		 glen;

	spew(tpath(ctp, sizeof(ctp), "ct.age"), ct->data, ct->len);
	tpath(outp, sizeof(outp), "pt.out");
	argv[0] = "age";
	argv[1] = "-d";
	argv[2] = "-i";
	argv[3] = (char *)key;
	argv[4] = NULL;
	/* NOTES.md: with -o, an empty plaintext makes no file; use stdout. */
	ck_assert_msg(run(argv, ctp, outp) == 0, "age -d failed, %zu bytes",
	    len);
	ck_assert_ptr_nonnull(got = tu_read_file(outp, &glen));
	ck_assert_uint_eq(glen, len);
	ck_assert(len == 0 || memcmp(got, p, len) == 0);
	free(got);
	unlink(outp);
}

/* age -r … encrypts p; returns the file in ct. */
static void
age_encrypts(char rs[][AGE_RECIPIENT_STRLEN + 1], size_t nr,
    const unsigned char *p, size_t len, struct buf *ct)
{
	char		 ptp[256], ctp[256], *argv[12];
	unsigned char	*c;
	size_t		 clen, i, a = 0;

	spew(tpath(ptp, sizeof(ptp), "pt.in"), p, len);
	tpath(ctp, sizeof(ctp), "ct.age");
	argv[a++] = "age";
	for (i = 0; i < nr; i++) {
		argv[a++] = "-r";
		argv[a++] = rs[i];
	}
	argv[a++] = "-o";
	argv[a++] = ctp;
	argv[a] = NULL;
	ck_assert_msg(run(argv, ptp, NULL) == 0, "age -r failed");
	ck_assert_ptr_nonnull(c = tu_read_file(ctp, &clen));
	buf_init(ct, 0);
	buf_append(ct, c, clen);
	free(c);
}

START_TEST(test_interop_to_age)
{
	struct age_identity	 id[3];
	struct age_recipient	 r[3];
	char			 keys[3][256];
	struct buf		 ct;
	unsigned char		*p;
	size_t			 i, nr, k, runs = 0;

	for (i = 0; i < 3; i++)
		keygen((int)i, &id[i], &r[i], keys[i], sizeof(keys[i]));
	for (nr = 1; nr <= 3; nr++) {
		for (i = 0; i < NSIZES; i++) {
			p = pattern(interop_sizes[i], (unsigned)(i + nr));
			buf_init(&ct, 0);
			ck_assert_int_eq(age_encrypt(r, nr, p, interop_sizes[i],
			    &ct), 0);
			for (k = 0; k < nr; k++, runs++)
				age_decrypts(keys[k], &ct, p, interop_sizes[i]);
			buf_free(&ct);
			free(p);
		}
	}
	ck_assert_uint_eq(runs, NSIZES * 6);
}
END_TEST

START_TEST(test_interop_from_age)
{
	struct age_identity	 id[3], rev[3];
	struct age_recipient	 r[3];
	char			 keys[3][256], rs[3][AGE_RECIPIENT_STRLEN + 1];
	struct buf		 ct, pt;
	unsigned char		*p;
	size_t			 i, nr, k;

	for (i = 0; i < 3; i++) {
		keygen((int)i, &id[i], &r[i], keys[i], sizeof(keys[i]));
		age_recipient_format(&r[i], rs[i]);
		rev[2 - i] = id[i];
	}
	for (nr = 1; nr <= 3; nr++) {
		for (i = 0; i < NSIZES; i++) {
			p = pattern(interop_sizes[i], (unsigned)(i * nr));
			age_encrypts(rs, nr, p, interop_sizes[i], &ct);
			for (k = 0; k < nr; k++) {
				buf_init(&pt, 0);
				ck_assert_int_eq(age_decrypt(&id[k], 1, ct.data,
				    ct.len, &pt), 0);
				ck_assert_uint_eq(pt.len, interop_sizes[i]);
				ck_assert(pt.len == 0 ||
				    memcmp(pt.data, p, pt.len) == 0);
				buf_wipe(&pt);
			}
			/* All identities at once, non-matching ones first. */
			buf_init(&pt, 0);
			ck_assert_int_eq(age_decrypt(rev, 3, ct.data, ct.len,
			    &pt), 0);
			ck_assert_uint_eq(pt.len, interop_sizes[i]);
			buf_wipe(&pt);
			buf_free(&ct);
			free(p);
		}
	}
}
END_TEST

START_TEST(test_interop_keyfile)
{
	struct age_identity	 id;
	struct age_recipient	 r;
	char			 path[256], pubp[256], outp[256], *argv[5];
	char			 rs[1][AGE_RECIPIENT_STRLEN + 1];
	unsigned char		*p, *got;
	struct buf		 ct, pt;
	size_t			 glen;

	ck_assert_int_eq(age_identity_generate(&id), 0);
	age_identity_recipient(&id, &r);
	age_recipient_format(&r, rs[0]);
	tpath(path, sizeof(path), "mine.key");
	ck_assert_int_eq(age_identity_file_write(path, &id), 0);
	/* age-keygen -y derives the same recipient from our file. */
	argv[0] = "age-keygen";
	argv[1] = "-y";
	argv[2] = path;
	argv[3] = NULL;
	ck_assert_int_eq(run(argv, NULL, tpath(pubp, sizeof(pubp), "pub")),
	    0);
	ck_assert_ptr_nonnull(got = tu_read_file(pubp, &glen));
	ck_assert_uint_eq(glen, AGE_RECIPIENT_STRLEN + 1);
	ck_assert_mem_eq(got, rs[0], AGE_RECIPIENT_STRLEN);
	free(got);
	/* Our key file decrypts what we encrypt, with age. */
	p = pattern(70000, 8);
	encrypt1(&id, p, 70000, &ct);
	age_decrypts(path, &ct, p, 70000);
	buf_free(&ct);
	/* age -r to our recipient string, and age -R with a -R file. */
	age_encrypts(rs, 1, p, 70000, &ct);
	buf_init(&pt, 0);
	ck_assert_int_eq(age_decrypt(&id, 1, ct.data, ct.len, &pt), 0);
	ck_assert_uint_eq(pt.len, 70000);
	ck_assert_mem_eq(pt.data, p, 70000);
	buf_wipe(&pt);
	buf_free(&ct);
	buf_init(&ct, 0);
	buf_printf(&ct, "# staff\n%s\n", rs[0]);
	spew(tpath(pubp, sizeof(pubp), "recips"), ct.data, ct.len);
	buf_free(&ct);
	argv[0] = "age";
	argv[1] = "-R";
	argv[2] = pubp;
	argv[3] = NULL;
	spew(tpath(path, sizeof(path), "pt.in"), p, 70000);
	ck_assert_int_eq(run(argv, path, tpath(outp, sizeof(outp), "c2")), 0);
	ck_assert_ptr_nonnull(got = tu_read_file(outp, &glen));
	buf_init(&pt, 0);
	ck_assert_int_eq(age_decrypt(&id, 1, got, glen, &pt), 0);
	ck_assert_uint_eq(pt.len, 70000);
	buf_wipe(&pt);
	free(got);
	free(p);
}
END_TEST

START_TEST(test_interop_stream)
{
	struct age_identity	 id[2];
	struct age_recipient	 r[2];
	char			 keys[2][256];
	struct buf		 ct;
	unsigned char		*p;
	size_t			 i;

	for (i = 0; i < 2; i++)
		keygen((int)i, &id[i], &r[i], keys[i], sizeof(keys[i]));
	for (i = 0; i < NSIZES; i++) {
		p = pattern(interop_sizes[i], (unsigned)i + 40);
		stream_encrypt(r, 2, p, interop_sizes[i], &ct);
		age_decrypts(keys[1], &ct, p, interop_sizes[i]);
		buf_free(&ct);
		free(p);
	}
}
END_TEST

START_TEST(test_interop_age_rejects_tampered)
{
	struct age_identity	 id;
	struct age_recipient	 r;
	char			 key[256], ctp[256], *argv[5];
	struct buf		 ct, pt;
	unsigned char		*p;

	keygen(0, &id, &r, key, sizeof(key));
	p = pattern(AGE_CHUNK, 11);
	buf_init(&ct, 0);
	ck_assert_int_eq(age_encrypt(&r, 1, p, AGE_CHUNK, &ct), 0);
	buf_putc(&ct, 'A');
	spew(tpath(ctp, sizeof(ctp), "ct.age"), ct.data, ct.len);
	argv[0] = "age";
	argv[1] = "-d";
	argv[2] = "-i";
	argv[3] = key;
	argv[4] = NULL;
	/* Both implementations refuse trailing data after the last chunk. */
	ck_assert_int_ne(run(argv, ctp, NULL), 0);
	buf_init(&pt, 0);
	ck_assert_int_eq(age_decrypt(&id, 1, ct.data, ct.len, &pt),
	    ERR_PAYLOAD);
	ck_assert_uint_eq(pt.len, AGE_CHUNK);
	buf_wipe(&pt);
	/* And both accept the file without it. */
	ct.len--;
	spew(ctp, ct.data, ct.len);
	ck_assert_int_eq(run(argv, ctp, NULL), 0);
	buf_free(&ct);
	free(p);
}
END_TEST

Suite *
age_suite(void)
{
	Suite	*s = suite_create("age");
	TCase	*tc;

	tc = tcase_create("vectors");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_vectors);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup_tmpdir, teardown_tmpdir);
	tcase_add_test(tc, test_keys_roundtrip);
	tcase_add_test(tc, test_bech32_reject);
	tcase_add_test(tc, test_recipients_file);
	tcase_add_test(tc, test_recipient_labels);
	tcase_add_test(tc, test_identities_file);
	tcase_add_test(tc, test_identity_file_write);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup_tmpdir, teardown_tmpdir);
	tcase_add_test(tc, test_roundtrip_sizes);
	tcase_add_test(tc, test_multi_recipients);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_wrong_identity);
	tcase_add_test(tc, test_header_bitflips);
	tcase_add_test(tc, test_header_semantic);
	tcase_add_test(tc, test_header_caps);
	tcase_add_test(tc, test_chunk_tamper);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_appended);
	tcase_add_test(tc, test_stream_api);
	suite_add_tcase(s, tc);

	tc = tcase_create("interop");
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup_tmpdir, teardown_tmpdir);
	tcase_add_test(tc, test_interop_to_age);
	tcase_add_test(tc, test_interop_from_age);
	tcase_add_test(tc, test_interop_keyfile);
	tcase_add_test(tc, test_interop_stream);
	tcase_add_test(tc, test_interop_age_rejects_tampered);
	suite_add_tcase(s, tc);
	return s;
}
