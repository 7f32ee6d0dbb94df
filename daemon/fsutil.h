#ifndef INTAKE_FSUTIL_H
#define INTAKE_FSUTIL_H

#include <stddef.h>

/* The two file operations every durable writer here needs. Both return 0,
   or -1 with errno set. */

/* Writes all len bytes of p to fd, retrying short writes and EINTR. */
int	fs_write_all(int fd, const void *p, size_t len);
/* fsyncs the directory at path, so a create or rename in it is durable. */
int	fs_fsync_dir(const char *path);
/* Reads the regular file at path (no symlink followed), at most max
   bytes, into a new buffer *out of *len bytes (NUL-terminated beyond
   them; the caller frees it). -1 with errno set (EFBIG when too large). */
int	fs_read_file(const char *path, size_t max, char **out, size_t *len);
/* The directory part of path into out ("." without one, "/" at the
   root): 0, or -1 when it does not fit. */
int	fs_dirname(const char *path, char *out, size_t len);

#endif
