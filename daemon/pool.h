#ifndef INTAKE_POOL_H
#define INTAKE_POOL_H

/*
 * Called first by every function intaked runs on libuv's threadpool
 * (encryption, staging, Maildir writes, outbox reads, the inbox's reads,
 * retention). The first call on a pool thread lowers that thread's
 * priority (nice +10): on a busy machine the event loop and the store
 * writer, which every answer waits for, then run first, and the pool's
 * work fills the time they leave. Linux keeps a nice value per thread.
 * Where the call is not allowed (a seccomp filter refusing setpriority)
 * nothing changes.
 */
void	pool_background(void);

#endif
