/* Unit tests of the chained hash table (cache/htable.h). Entries are a small struct with its own
 * key, as the caches use it; some tests give many keys one hash to exercise the chains. */
#include "check.h"

#include <stdbool.h>
#include <stdlib.h>

#include "cache/htable.h"

struct item {
	struct htable_link link;
	unsigned int key;
	int seen;
};

static struct item *item_of(struct htable_link *l)
{
	return (struct item *)((char *)l - offsetof(struct item, link));
}

static struct item *find(struct htable *t, uint64_t hash, unsigned int key)
{
	for (struct htable_link *l = htable_first(t, hash); l; l = htable_next(l))
		if (item_of(l)->key == key)
			return item_of(l);
	return NULL;
}

/* Spreads keys over all 64 bits, as the caches' finalised hashes do. */
static uint64_t spread(unsigned int key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ULL;

	return h ^ h >> 29;
}

static void entries_are_found_after_the_table_grows(void)
{
	enum { N = 5000 };
	struct item *v = calloc(N, sizeof(*v));
	struct htable t;
	int missing = 0;

	CHECK(htable_init(&t) == 0);
	for (unsigned int i = 0; i < N; i++) {
		v[i].key = i;
		htable_insert(&t, &v[i].link, spread(i));
	}
	CHECK(t.count == N);
	/* Doubled while the entries passed the buckets: a power of two of at least N / 2. */
	CHECK(t.nbuckets >= N / 2 && (t.nbuckets & (t.nbuckets - 1)) == 0);
	for (unsigned int i = 0; i < N; i++)
		missing += find(&t, spread(i), i) != &v[i];
	CHECK(missing == 0);
	CHECK(find(&t, spread(N), N) == NULL);
	htable_free(&t);
	free(v);
}

static void every_link_of_one_hash_is_visited_and_no_other(void)
{
	struct item v[40] = {0};
	struct htable t;
	int same = 0;

	CHECK(htable_init(&t) == 0);
	/* Half share hash 7; the other half share its bucket but not its hash. */
	for (unsigned int i = 0; i < 40; i++) {
		v[i].key = i;
		htable_insert(&t, &v[i].link, i % 2 ? 7 : 7 + ((uint64_t)(i + 1) << 40));
	}
	for (struct htable_link *l = htable_first(&t, 7); l; l = htable_next(l)) {
		CHECK(l->hash == 7);
		item_of(l)->seen++;
		same++;
	}
	CHECK(same == 20);
	for (unsigned int i = 0; i < 40; i++)
		CHECK(v[i].seen == (i % 2 ? 1 : 0));
	CHECK(htable_first(&t, 8) == NULL);
	htable_free(&t);
}

static void removed_entries_are_not_found_and_keep_their_hash(void)
{
	struct item v[300] = {0};
	struct htable t;
	int wrong = 0;

	CHECK(htable_init(&t) == 0);
	for (unsigned int i = 0; i < 300; i++) {
		v[i].key = i;
		htable_insert(&t, &v[i].link, spread(i % 30));
	}
	for (unsigned int i = 0; i < 300; i += 3)
		htable_remove(&t, &v[i].link);
	CHECK(t.count == 200);
	for (unsigned int i = 0; i < 300; i++) {
		wrong += find(&t, spread(i % 30), i) != (i % 3 ? &v[i] : NULL);
		wrong += v[i].link.hash != spread(i % 30);
	}
	CHECK(wrong == 0);
	htable_free(&t);
}

static void walk_visits_every_link_once_and_may_remove_it(void)
{
	enum { N = 1000 };
	struct item *v = calloc(N, sizeof(*v));
	struct htable_iter it;
	struct htable_link *l;
	struct htable t;
	int wrong = 0;

	CHECK(htable_init(&t) == 0);
	for (unsigned int i = 0; i < N; i++) {
		v[i].key = i;
		htable_insert(&t, &v[i].link, spread(i % 100));
	}
	htable_iter_init(&it);
	while ((l = htable_iter_next(&t, &it))) {
		struct item *x = item_of(l);

		x->seen++;
		if (x->key % 2)
			htable_remove(&t, l);
	}
	for (unsigned int i = 0; i < N; i++)
		wrong += v[i].seen != 1;
	CHECK(wrong == 0);
	CHECK(t.count == N / 2);
	htable_iter_init(&it);
	while ((l = htable_iter_next(&t, &it)))
		wrong += item_of(l)->key % 2 != 0;
	CHECK(wrong == 0);
	htable_free(&t);
	free(v);
}

static void free_accepts_a_zeroed_table(void)
{
	struct htable t = {0};

	htable_free(&t);
	CHECK(t.buckets == NULL);
}

int main(void)
{
	RUN(entries_are_found_after_the_table_grows);
	RUN(every_link_of_one_hash_is_visited_and_no_other);
	RUN(removed_entries_are_not_found_and_keep_their_hash);
	RUN(walk_visits_every_link_once_and_may_remove_it);
	RUN(free_accepts_a_zeroed_table);
	return CHECK_DONE();
}
