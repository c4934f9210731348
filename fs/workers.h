/* A fixed pool of worker threads running queued jobs in the order they came.
 *
 * struct workers is opaque and thread-safe, except that workers_free() must not race with a
 * workers_submit() on the same pool. A job is a function and its argument; once a job is
 * accepted, exactly one of its run and drop functions is called with the argument, which
 * then owns it: run on a worker, or drop when the pool stops before the job's turn. */
#ifndef GCSMOUNT_FS_WORKERS_H
#define GCSMOUNT_FS_WORKERS_H

#include <stddef.h>

struct workers;

/* Starts nthreads workers for a queue of at most max_queued jobs; NULL if none could start. */
struct workers *workers_new(int nthreads, size_t max_queued);
/* Lets each worker finish the job it runs, stops them, drops the jobs still queued and frees
 * the pool; NULL is fine. */
void workers_free(struct workers *w);
/* Queues run(arg). Returns 0, or -EAGAIN when the queue is full, -ESRCH when the pool stops,
 * -ENOMEM; on an error neither function is called and arg stays the caller's. */
int workers_submit(struct workers *w, void (*run)(void *), void (*drop)(void *), void *arg);

#endif
