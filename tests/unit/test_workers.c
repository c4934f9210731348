/* Unit tests of fs/workers.c: jobs run in order, a full queue says so, and stopping the pool
 * lets the running job finish and drops the queued ones, each job meeting exactly one of its
 * two functions. */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "fs/workers.h"

static atomic_int ran, dropped;
static int order[100];
static atomic_int norder;

static void record(void *arg)
{
	order[atomic_fetch_add(&norder, 1)] = (int)(intptr_t)arg;
	atomic_fetch_add(&ran, 1);
}

static void count_drop(void *arg)
{
	(void)arg;
	atomic_fetch_add(&dropped, 1);
}

/* A job that holds its worker until released. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_entered;

static void wait_at_gate(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate_lock);
	gate_entered = 1;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	atomic_fetch_add(&ran, 1);
}

static void hold_the_worker(struct workers *w)
{
	gate_open = gate_entered = 0;
	CHECK(workers_submit(w, wait_at_gate, count_drop, NULL) == 0);
	pthread_mutex_lock(&gate_lock);
	while (!gate_entered)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void release_the_worker(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void *release_later(void *arg)
{
	(void)arg;
	usleep(50 * 1000);
	release_the_worker();
	return NULL;
}

static void reset(void)
{
	atomic_store(&ran, 0);
	atomic_store(&dropped, 0);
	atomic_store(&norder, 0);
}

static void one_worker_runs_jobs_in_order(void)
{
	struct workers *w = workers_new(1, 100);

	reset();
	hold_the_worker(w);
	for (intptr_t i = 0; i < 50; i++)
		CHECK(workers_submit(w, record, count_drop, (void *)i) == 0);
	release_the_worker();
	for (int i = 0; i < 5000 && atomic_load(&ran) < 51; i++)
		usleep(1000);
	CHECK(atomic_load(&ran) == 51);
	for (int i = 0; i < 50; i++)
		CHECK(order[i] == i);
	workers_free(w);
	CHECK(atomic_load(&dropped) == 0);
}

static void a_full_queue_refuses_and_the_job_stays_the_callers(void)
{
	struct workers *w = workers_new(1, 3);

	reset();
	hold_the_worker(w);
	for (int i = 0; i < 3; i++)
		CHECK(workers_submit(w, record, count_drop, NULL) == 0);
	CHECK(workers_submit(w, record, count_drop, NULL) == -EAGAIN);
	release_the_worker();
	workers_free(w);
	/* The refused job met neither function; the others one each. */
	CHECK(atomic_load(&ran) + atomic_load(&dropped) == 4);
}

static void stopping_finishes_the_running_job_and_drops_the_queued(void)
{
	struct workers *w = workers_new(1, 100);

	reset();
	hold_the_worker(w);
	for (int i = 0; i < 10; i++)
		CHECK(workers_submit(w, record, count_drop, NULL) == 0);
	/* The worker is released while the pool stops: it finishes the held job, and takes
	 * another only if it was released before the pool said stop. */
	pthread_t releaser;
	CHECK(pthread_create(&releaser, NULL, release_later, NULL) == 0);
	workers_free(w);
	pthread_join(releaser, NULL);
	CHECK(atomic_load(&ran) + atomic_load(&dropped) == 11);
	CHECK(atomic_load(&ran) >= 1);
}

static void no_threads_no_pool(void)
{
	CHECK(workers_new(0, 10) == NULL);
	workers_free(NULL);
}

int main(void)
{
	RUN(one_worker_runs_jobs_in_order);
	RUN(a_full_queue_refuses_and_the_job_stays_the_callers);
	RUN(stopping_finishes_the_running_job_and_drops_the_queued);
	RUN(no_threads_no_pool);
	return CHECK_DONE();
}
