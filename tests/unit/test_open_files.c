/* Unit tests of fs/open_files.c: finding nodes by inode and by path (and no longer by a
 * name they lost), locking two nodes, nodes' views, and the upload queue (workers, order,
 * bounds, stopping). */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/open_files.h"

static atomic_int worked, started;
static atomic_bool gate_closed;
static struct fnode *order[64];
static atomic_int norder;

/* The work function: records the node, and waits while the test keeps the gate closed. */
static void work(void *arg, struct fnode *n)
{
	(void)arg;
	atomic_fetch_add(&started, 1);
	while (atomic_load(&gate_closed))
		usleep(1000);
	order[atomic_fetch_add(&norder, 1) % 64] = n;
	atomic_fetch_add(&worked, 1);
}

static void reset(void)
{
	atomic_store(&worked, 0);
	atomic_store(&started, 0);
	atomic_store(&norder, 0);
	atomic_store(&gate_closed, false);
}

static int wait_worked(int n)
{
	for (int i = 0; i < 5000 && atomic_load(&worked) < n; i++)
		usleep(1000);
	return atomic_load(&worked) >= n;
}

static void nodes_are_found_by_inode_and_by_path_after_a_rename(void)
{
	struct ftable *t = ftable_new();
	struct fnode *a = ftable_get(t, 10, "dir/a"), *b = ftable_get(t, 11, "dir/b");

	CHECK(ftable_get(t, 10, "ignored") == a); /* the node of ino 10 already exists */
	ftable_put(t, a);
	CHECK(ftable_find(t, 11) == b);
	ftable_put(t, b);
	struct fnode *f = ftable_find_path(t, "dir/a");
	CHECK(f == a);
	ftable_put(t, f);
	fnode_lock(a);
	CHECK(ftable_set_path(t, a, "other/a") == 0);
	fnode_unlock(a);
	CHECK(ftable_find_path(t, "dir/a") == NULL);
	f = ftable_find_path(t, "other/a");
	CHECK(f == a);
	ftable_put(t, f);
	ftable_rename_dir(t, "dir", "moved");
	f = ftable_find_path(t, "moved/b");
	CHECK(f == b);
	ftable_put(t, f);
	ftable_put(t, a);
	ftable_put(t, b);
	/* The last reference took them out of both indexes. */
	CHECK(ftable_find(t, 10) == NULL && ftable_find_path(t, "other/a") == NULL);
	ftable_free(t);
}

static void an_unnamed_node_is_found_by_inode_only_and_its_name_is_free(void)
{
	struct ftable *t = ftable_new();
	struct fnode *old = ftable_get(t, 20, "d/f"), *f;

	fnode_lock(old);
	ftable_unname(t, old);
	fnode_unlock(old);
	CHECK(ftable_find_path(t, "d/f") == NULL);
	f = ftable_find(t, 20);
	CHECK(f == old);
	ftable_put(t, f);
	/* A new file of the same name is the one found by it, whatever the order of the chain. */
	struct fnode *fresh = ftable_get(t, 21, "d/g");
	fnode_lock(fresh);
	CHECK(ftable_set_path(t, fresh, "d/f") == 0);
	fnode_unlock(fresh);
	ftable_rename_dir(t, "d", "e"); /* relinks every node below d/ */
	f = ftable_find_path(t, "e/f");
	CHECK(f == fresh);
	ftable_put(t, f);
	CHECK(strcmp(old->path, "e/f") == 0); /* kept, for the log */
	ftable_put(t, old);
	CHECK(ftable_find(t, 20) == NULL);
	f = ftable_find_path(t, "e/f");
	CHECK(f == fresh);
	ftable_put(t, f);
	ftable_put(t, fresh);
	ftable_free(t);
}

/* Two threads locking the same pair in opposite argument order never wait for each other. */
static struct fnode *pair[2];

static void *lock_pair_reversed(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		fnode_lock_pair(pair[1], pair[0]);
		fnode_unlock_pair(pair[1], pair[0]);
	}
	return NULL;
}

static void a_pair_of_nodes_is_locked_in_one_order(void)
{
	struct ftable *t = ftable_new();
	pthread_t th;

	pair[0] = ftable_get(t, 31, "a");
	pair[1] = ftable_get(t, 30, "b");
	CHECK(pthread_create(&th, NULL, lock_pair_reversed, NULL) == 0);
	for (int i = 0; i < 20000; i++) {
		fnode_lock_pair(pair[0], pair[1]);
		fnode_unlock_pair(pair[0], pair[1]);
	}
	pthread_join(th, NULL);
	fnode_lock_pair(NULL, pair[0]); /* either may be missing */
	CHECK(pthread_mutex_trylock(&pair[0]->lock) != 0);
	fnode_unlock_pair(NULL, pair[0]);
	ftable_put(t, pair[0]);
	ftable_put(t, pair[1]);
	ftable_free(t);
}

static void a_queue_never_started_or_switched_off_takes_nothing(void)
{
	struct ftable *t = ftable_new();
	struct fnode *n = ftable_get(t, 1, "f");

	reset();
	CHECK(ftable_queue_add(t, n) == -ESRCH);
	CHECK(!ftable_queue_running(t));
	CHECK(ftable_queue_start(t, 0, 8, work, NULL) == 0); /* off for good */
	CHECK(ftable_queue_start(t, 2, 8, work, NULL) == 0); /* only the first call acts */
	CHECK(!ftable_queue_running(t));
	CHECK(ftable_queue_add(t, n) == -ESRCH);
	ftable_put(t, n);
	ftable_free(t);
	CHECK(atomic_load(&worked) == 0);
}

static void queued_nodes_are_worked_on_once_in_order_and_kept_alive(void)
{
	struct ftable *t = ftable_new();
	struct fnode *n[4];

	reset();
	CHECK(ftable_queue_start(t, 1, 16, work, NULL) == 0);
	CHECK(ftable_queue_running(t));
	atomic_store(&gate_closed, true);
	for (int i = 0; i < 4; i++) {
		char name[8] = {'f', (char)('0' + i), 0};

		n[i] = ftable_get(t, (uint64_t)i + 1, name);
		CHECK(ftable_queue_add(t, n[i]) == 0);
	}
	/* Queued again while it waits: still one piece of work. */
	CHECK(ftable_queue_add(t, n[3]) == 0);
	/* The caller's references go; the queue's keep the nodes. */
	for (int i = 0; i < 4; i++)
		ftable_put(t, n[i]);
	CHECK(ftable_queue_len(t) == 4);
	struct fnode *f = ftable_find(t, 3);
	CHECK(f == n[2]);
	ftable_put(t, f);
	atomic_store(&gate_closed, false);
	CHECK(wait_worked(4));
	usleep(20000);
	CHECK(atomic_load(&worked) == 4);
	for (int i = 0; i < 4; i++)
		CHECK(order[i] == n[i]);
	/* Done: the last references went with the work. */
	CHECK(ftable_queue_len(t) == 0);
	CHECK(ftable_find(t, 1) == NULL);
	ftable_free(t);
}

static void a_full_queue_refuses_and_stop_finishes_what_is_queued(void)
{
	struct ftable *t = ftable_new();
	struct fnode *n[5];

	reset();
	CHECK(ftable_queue_start(t, 1, 2, work, NULL) == 0);
	atomic_store(&gate_closed, true);
	n[0] = ftable_get(t, 1, "a");
	CHECK(ftable_queue_add(t, n[0]) == 0);
	/* The worker takes it and waits at the gate; two more fill the queue. */
	for (int i = 0; i < 5000 && atomic_load(&started) == 0; i++)
		usleep(1000);
	CHECK(atomic_load(&started) == 1);
	n[1] = ftable_get(t, 2, "b");
	n[2] = ftable_get(t, 3, "c");
	n[3] = ftable_get(t, 4, "d");
	CHECK(ftable_queue_add(t, n[1]) == 0);
	CHECK(ftable_queue_add(t, n[2]) == 0);
	CHECK(ftable_queue_add(t, n[3]) == -EAGAIN);
	for (int i = 0; i < 4; i++)
		ftable_put(t, n[i]);
	atomic_store(&gate_closed, false);
	ftable_queue_stop(t);
	/* Stopping waited for the three queued, and takes nothing more. */
	CHECK(atomic_load(&worked) == 3);
	n[4] = ftable_get(t, 5, "e");
	CHECK(ftable_queue_add(t, n[4]) == -ESRCH);
	ftable_put(t, n[4]);
	ftable_free(t);
}

/* stat must not wait for an upload, which holds the node mutex throughout. */
static void a_nodes_view_is_readable_while_its_mutex_is_held_and_set_on_release(void)
{
	struct ftable *t = ftable_new();
	struct fnode *n = ftable_get(t, 12, "dir/f");
	struct fnode_view v;

	fnode_view(n, &v);
	CHECK(!v.staged && v.size == 0);
	fnode_lock(n);
	n->fd = 0; /* any open descriptor */
	n->size = 4096;
	n->dirty = 1;
	fnode_unlock(n);
	fnode_lock(n);
	n->size = 8192; /* a change still under way */
	fnode_view(n, &v);
	CHECK(v.staged && v.dirty && v.size == 4096);
	n->fd = -1;
	n->dirty = 0;
	fnode_unlock(n);
	fnode_view(n, &v);
	CHECK(!v.staged && !v.dirty && v.size == 8192);
	char *p = ftable_path_of(t, n);
	CHECK(p && strcmp(p, "dir/f") == 0);
	free(p);
	ftable_put(t, n);
	ftable_free(t);
}

int main(void)
{
	RUN(a_nodes_view_is_readable_while_its_mutex_is_held_and_set_on_release);
	RUN(nodes_are_found_by_inode_and_by_path_after_a_rename);
	RUN(an_unnamed_node_is_found_by_inode_only_and_its_name_is_free);
	RUN(a_pair_of_nodes_is_locked_in_one_order);
	RUN(a_queue_never_started_or_switched_off_takes_nothing);
	RUN(queued_nodes_are_worked_on_once_in_order_and_kept_alive);
	RUN(a_full_queue_refuses_and_stop_finishes_what_is_queued);
	return CHECK_DONE();
}
