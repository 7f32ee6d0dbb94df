#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max ? max : SIZE_MAX / 2;
}

/* Makes room for len + n + 1 bytes (the 1 keeps the NUL terminator). */
static int
reserve(struct buf *b, size_t n)
{
	size_t	 want, cap;
	char	*p;

	if (n > b->max - b->len)
		return ERR_TOOBIG;
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap = cap > SIZE_MAX / 4 ? want : cap * 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_reserve(struct buf *b, size_t cap)
{
	char	*p;

	if (cap <= b->cap)
		return 0;
	if ((p = realloc(b->data, cap)) == NULL)
		return ERR_NOMEM;
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	int	r;

	if ((r = reserve(b, n)) != 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return ERR_NOMEM;
	if ((r = reserve(b, (size_t)n)) != 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_wipe(struct buf *b)
{
	if (b->data)
		sodium_memzero(b->data, b->cap);
	buf_free(b);
}

char *
buf_steal(struct buf *b, size_t *len)
{
	char	*p;

	if (b->data == NULL && buf_append(b, "", 0) != 0)
		return NULL;
	p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
