#ifndef INTAKE_BUF_H
#define INTAKE_BUF_H

#include "err.h"

#include <stddef.h>

/*
 * A growable byte buffer with a hard cap. Everything fed from the network
 * goes through one of these, so no peer can make us grow without bound.
 * data is always NUL-terminated past len (when data != NULL) so text
 * buffers can be used as C strings.
 */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;	/* hard limit on len; 0 means SIZE_MAX/2 */
};


void	 buf_init(struct buf *, size_t max);
int	 buf_append(struct buf *, const void *, size_t);
int	 buf_puts(struct buf *, const char *);
int	 buf_putc(struct buf *, char);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * Grows the storage to exactly cap bytes (the NUL terminator included)
 * when it holds less; never shrinks. For callers that account for what a
 * buffer holds and so decide its growth themselves: appends that fit in
 * cap - 1 bytes then never reallocate. 0, or ERR_NOMEM with the buffer
 * as it was.
 */
int	 buf_reserve(struct buf *, size_t cap);
void	 buf_reset(struct buf *);	/* len = 0, keeps memory */
void	 buf_free(struct buf *);	/* frees memory; buffer can be reused */
void	 buf_wipe(struct buf *);	/* sodium_memzero then free: for plaintext */
/* Gives the caller the malloc'd data (NUL-terminated); buffer becomes empty. */
char	*buf_steal(struct buf *, size_t *len);

#endif
