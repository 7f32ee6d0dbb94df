#ifndef INTAKE_SD_H
#define INTAKE_SD_H

#include <stdint.h>

/*
 * The two systemd protocols intaked speaks, implemented directly (they are
 * a few lines each; libsystemd would be a dependency for nothing):
 * sd_notify datagrams to $NOTIFY_SOCKET, and socket activation through
 * $LISTEN_PID/$LISTEN_FDS.
 */

#define SD_LISTEN_FDS_START	3
#define SD_MAX_FDS		16

#define SD_NAME_MAX		255	/* of a FileDescriptorName */

/*
 * Returns how many sockets systemd passed (starting at fd 3, set to
 * close-on-exec), 0 when none were passed to this process, -1 on a
 * malformed environment. Unsets the variables so children don't see them.
 * With names, each socket's FileDescriptorName from $LISTEN_FDNAMES goes
 * into names[i] ("unknown" where none was given, as systemd says).
 */
int	sd_listen_fds(void);
int	sd_listen_fds_named(char names[SD_MAX_FDS][SD_NAME_MAX + 1]);
/* Sends state ("READY=1", "STOPPING=1", "WATCHDOG=1"…); 0 when there is
   no $NOTIFY_SOCKET, 1 when sent, -1 on error. */
int	sd_notify(const char *state);
/* Watchdog interval in microseconds, 0 when not enabled for us. */
uint64_t sd_watchdog_usec(void);

#endif
