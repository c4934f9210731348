/* Chained hash table: the out-of-line parts, which run once per table or once per doubling. */
#include "cache/htable.h"

#include <errno.h>
#include <stdlib.h>

#define HTABLE_MIN_BUCKETS 64

int htable_init(struct htable *t)
{
	t->nbuckets = 0;
	t->count = 0;
	t->buckets = malloc(HTABLE_MIN_BUCKETS * sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->nbuckets = HTABLE_MIN_BUCKETS;
	for (size_t i = 0; i < t->nbuckets; i++)
		LIST_INIT(&t->buckets[i]);
	return 0;
}

void htable_free(struct htable *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = 0;
	t->count = 0;
}

void htable_grow(struct htable *t)
{
	size_t n = t->nbuckets * 2;
	struct htable_chain *nb;
	struct htable_link *l;

	if (n > SIZE_MAX / sizeof(*nb))
		return;
	nb = malloc(n * sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < n; i++)
		LIST_INIT(&nb[i]);
	for (size_t i = 0; i < t->nbuckets; i++) {
		while ((l = LIST_FIRST(&t->buckets[i]))) {
			LIST_REMOVE(l, chain);
			LIST_INSERT_HEAD(&nb[l->hash & (n - 1)], l, chain);
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}
