/* Chained hash table of caller-owned entries, keyed by a 64-bit hash.
 *
 * Intrusive: each entry embeds a struct htable_link, which holds the entry's hash while it is in
 * the table. The table compares hashes only; the caller walks the links of one hash with
 * htable_first()/htable_next() and compares its own keys, turning a link back into its entry
 * with offsetof. The bucket array has a power-of-two size and doubles when the entries pass the
 * buckets; should that allocation fail, the table keeps working with longer chains.
 *
 * Thread-safety: none; the caller locks. Ownership: the table owns only its bucket array, never
 * the entries. */
#ifndef GCSMOUNT_CACHE_HTABLE_H
#define GCSMOUNT_CACHE_HTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct htable_link {
	LIST_ENTRY(htable_link) chain;
	uint64_t hash; /* set by htable_insert(), still readable after htable_remove() */
};

LIST_HEAD(htable_chain, htable_link);

struct htable {
	struct htable_chain *buckets;
	size_t nbuckets; /* a power of two */
	size_t count;	 /* links in the table */
};

/* Walks every link; see htable_iter_next(). */
struct htable_iter {
	size_t bucket;
	struct htable_link *next;
};

/* Initialises an empty table. Returns 0 or -ENOMEM. */
int htable_init(struct htable *t);

/* Frees the bucket array, not the entries. Accepts a table that is all zero bytes. */
void htable_free(struct htable *t);

/* Doubles the bucket array; on allocation failure keeps the old one. Called by htable_insert(). */
void htable_grow(struct htable *t);

/* Adds l, which is not in the table, under hash. Never fails. */
static inline void htable_insert(struct htable *t, struct htable_link *l, uint64_t hash)
{
	if (t->count >= t->nbuckets)
		htable_grow(t);
	l->hash = hash;
	LIST_INSERT_HEAD(&t->buckets[hash & (t->nbuckets - 1)], l, chain);
	t->count++;
}

/* Takes l, which is in the table, out of it. */
static inline void htable_remove(struct htable *t, struct htable_link *l)
{
	LIST_REMOVE(l, chain);
	t->count--;
}

/* The first link with this hash, or NULL. */
static inline struct htable_link *htable_first(const struct htable *t, uint64_t hash)
{
	struct htable_link *l;

	LIST_FOREACH(l, &t->buckets[hash & (t->nbuckets - 1)], chain)
	{
		if (l->hash == hash)
			return l;
	}
	return NULL;
}

/* The next link after l with l's hash, or NULL. */
static inline struct htable_link *htable_next(struct htable_link *l)
{
	uint64_t hash = l->hash;

	while ((l = LIST_NEXT(l, chain)))
		if (l->hash == hash)
			return l;
	return NULL;
}

static inline void htable_iter_init(struct htable_iter *it)
{
	it->bucket = 0;
	it->next = NULL;
}

/* The next link of a walk over the whole table, or NULL at the end. The link returned may be
 * removed before the next call; nothing may be inserted during the walk. */
static inline struct htable_link *htable_iter_next(const struct htable *t, struct htable_iter *it)
{
	struct htable_link *l = it->next;

	while (!l && it->bucket < t->nbuckets)
		l = LIST_FIRST(&t->buckets[it->bucket++]);
	if (l)
		it->next = LIST_NEXT(l, chain);
	return l;
}

#endif
