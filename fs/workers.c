/* A pool of worker threads over one FIFO queue of jobs.
 *
 * The pool serves read-ahead and reads that wait for the bucket: work that may block for as
 * long as a request can take, which is why it has threads of its own rather than borrowing
 * FUSE's. The queue is bounded so that a caller learns at once when it is full, and can do
 * the work itself or give it up.
 *
 * Lock: w->lock guards the queue and the stop flag; workers hold it only to take a job. */
#include "fs/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct job {
	void (*run)(void *);
	void (*drop)(void *);
	void *arg;
	struct job *next;
};

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *head, *tail;
	size_t queued, max_queued;
	int stop;
	int nthreads;
	pthread_t *threads;
};

static void *worker(void *p)
{
	struct workers *w = p;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stop) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		struct job *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
		pthread_mutex_unlock(&w->lock);

		j->run(j->arg);
		free(j);
	}
}

struct workers *workers_new(int nthreads, size_t max_queued)
{
	struct workers *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->max_queued = max_queued;
	w->threads = nthreads > 0 ? calloc((size_t)nthreads, sizeof(*w->threads)) : NULL;
	if (!w->threads) {
		workers_free(w);
		return NULL;
	}
	for (; w->nthreads < nthreads; w->nthreads++)
		if (pthread_create(&w->threads[w->nthreads], NULL, worker, w) != 0)
			break;
	if (w->nthreads == 0) {
		workers_free(w);
		return NULL;
	}
	return w;
}

void workers_free(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	while (w->head) {
		struct job *j = w->head;

		w->head = j->next;
		if (j->drop)
			j->drop(j->arg);
		free(j);
	}
	free(w->threads);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int workers_submit(struct workers *w, void (*run)(void *), void (*drop)(void *), void *arg)
{
	struct job *j = malloc(sizeof(*j));
	int rc = 0;

	if (!j)
		return -ENOMEM;
	*j = (struct job){run, drop, arg, NULL};
	pthread_mutex_lock(&w->lock);
	if (w->stop)
		rc = -ESRCH;
	else if (w->queued >= w->max_queued)
		rc = -EAGAIN;
	if (!rc) {
		if (w->tail)
			w->tail->next = j;
		else
			w->head = j;
		w->tail = j;
		w->queued++;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	if (rc)
		free(j);
	return rc;
}
