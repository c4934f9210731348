/* Turning objects.list pages into directory entries.
 *
 * A listing with prefix "d/" and delimiter "/" returns files as items and subdirectories as
 * prefixes; with includeTrailingDelimiter a placeholder object "d/sub/" also comes back as an
 * item, which gives the subdirectory its stored attributes. Names the filesystem cannot show
 * ("", ".", "..", components over 255 bytes, as from "d//x" or "d/./x") are skipped and
 * counted. When a file "d/x" and a prefix "d/x/" both exist, the directory wins and the file
 * stays reachable only through other tools: a name can only be one thing in a directory. */
#include "fs/dir.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gcs/client.h"
#include "util/buf.h"

#define NAME_MAX_BYTES 255

int dir_name_showable(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX_BYTES)
		return 0;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	return memchr(name, '/', len) == NULL;
}

int dir_name_is_utf8(const char *name, size_t len)
{
	const unsigned char *p = (const unsigned char *)name, *end = p + len;

	while (p < end) {
		unsigned c = *p++;
		size_t more;
		unsigned min;

		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			more = 1, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3, min = 0x10000;
		else
			return 0;
		if ((size_t)(end - p) < more)
			return 0;
		unsigned cp = c & (0x3f >> more);
		for (size_t i = 0; i < more; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8. */
		if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		p += more;
	}
	return 1;
}

char *dir_join(const char *dirpath, const char *name)
{
	struct buf b;

	buf_init(&b, 1u << 20);
	if ((*dirpath && buf_printf(&b, "%s/", dirpath)) || buf_append_str(&b, name)) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

void dirlist_clear(struct dirlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->ents[i].name);
		iattr_clear(&l->ents[i].attr);
	}
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

static struct dirlist_entry *add_entry(struct dirlist *l, const char *name, size_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct dirlist_entry *e = realloc(l->ents, cap * sizeof(*e));

		if (!e)
			return NULL;
		l->ents = e;
		l->cap = cap;
	}
	struct dirlist_entry *e = &l->ents[l->n];
	memset(e, 0, sizeof(*e));
	e->name = strndup(name, len);
	if (!e->name)
		return NULL;
	l->n++;
	return e;
}

int dirlist_add(struct dirlist *l, const char *name, int is_dir, const struct iattr *attr)
{
	struct dirlist_entry *e = add_entry(l, name, strlen(name));

	if (!e)
		return -ENOMEM;
	e->is_dir = is_dir;
	e->attr = *attr;
	e->attr.link_target = NULL;
	if (attr->link_target && !(e->attr.link_target = strdup(attr->link_target)))
		return -ENOMEM;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct dirlist_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* Directories sort before files of the same name, so the merge below keeps them. */
	return c ? c : y->is_dir - x->is_dir;
}

/* Sorts, then merges duplicates: a directory named by both a prefix and a placeholder item
 * is one entry (keeping the placeholder's attributes), and a directory hides a file. */
void dirlist_sort(struct dirlist *l)
{
	size_t out = 0;

	if (l->n < 2)
		return; /* nothing to merge; and an empty list has no array to give qsort */
	qsort(l->ents, l->n, sizeof(*l->ents), cmp_entry);
	for (size_t i = 0; i < l->n; i++) {
		struct dirlist_entry *e = &l->ents[i];

		if (out > 0 && strcmp(l->ents[out - 1].name, e->name) == 0) {
			struct dirlist_entry *kept = &l->ents[out - 1];

			if (!e->is_dir && kept->is_dir)
				l->shadowed++;
			else if (e->attr.generation && !kept->attr.generation) {
				struct iattr tmp = kept->attr;
				kept->attr = e->attr;
				e->attr = tmp;
			}
			free(e->name);
			iattr_clear(&e->attr);
			continue;
		}
		l->ents[out++] = *e;
	}
	l->n = out;
}

/* Without implicit directories, a prefix is a directory only with its placeholder object,
 * whose generation dirlist_fetch() keeps in the entry. */
static void drop_implicit(struct dirlist *l)
{
	size_t out = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (l->ents[i].is_dir && !l->ents[i].attr.generation) {
			free(l->ents[i].name);
			iattr_clear(&l->ents[i].attr);
			continue;
		}
		l->ents[out++] = l->ents[i];
	}
	l->n = out;
}

/* Adds one page's items and prefixes to out. */
static int add_page(struct dirlist *out, const struct gcs_list_page *page, const char *prefix,
		    const struct iattr_defaults *d)
{
	size_t plen = strlen(prefix);
	int rc;

	for (size_t i = 0; i < page->n_items; i++) {
		const struct gcs_object *o = &page->items[i];
		const char *rel = o->name + plen;
		size_t len;
		int is_dir;

		if (strncmp(o->name, prefix, plen) != 0)
			continue; /* not ours; a server bug, but never show it */
		len = strlen(rel);
		if (len == 0)
			continue; /* this directory's own placeholder */
		is_dir = rel[len - 1] == '/';
		if (is_dir)
			len--;
		if (!dir_name_showable(rel, len)) {
			out->skipped++;
			continue;
		}
		struct dirlist_entry *e = add_entry(out, rel, len);
		if (!e)
			return -ENOMEM;
		e->is_dir = is_dir;
		rc = iattr_from_object(&e->attr, o, is_dir, d);
		if (rc)
			return rc;
		/* A placeholder's generation marks that the attributes are its own. */
		if (is_dir)
			e->attr.generation = o->generation;
	}
	for (size_t i = 0; i < page->n_prefixes; i++) {
		const char *p = page->prefixes[i];
		size_t len = strlen(p);

		if (len <= plen || strncmp(p, prefix, plen) != 0)
			continue;
		len -= plen + 1; /* drop the prefix and the trailing '/' */
		if (!dir_name_showable(p + plen, len)) {
			out->skipped++;
			continue;
		}
		struct dirlist_entry *e = add_entry(out, p + plen, len);
		if (!e)
			return -ENOMEM;
		e->is_dir = 1;
		rc = iattr_from_object(&e->attr, NULL, 1, d);
		if (rc)
			return rc;
	}
	return 0;
}

/* Sorting, merging and, without implicit directories, dropping prefixes without placeholder. */
static void finish(struct dirlist *out, int implicit_dirs)
{
	dirlist_sort(out);
	if (!implicit_dirs)
		drop_implicit(out);
}

static char *listing_prefix(const char *dirpath)
{
	/* dir_join("a", "") gives "a/": the listing prefix of directory "a". */
	return *dirpath ? dir_join(dirpath, "") : strdup("");
}

int dirlist_fetch_pages(struct gcs_client *gcs, const char *dirpath, const struct iattr_defaults *d,
			int implicit_dirs, int max_pages, struct dirlist *out)
{
	int pages = 0;
	struct gcs_list_page page = {0};
	char *prefix = listing_prefix(dirpath);
	char *token = NULL;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!prefix)
		goto out;
	do {
		struct gcs_list_query q = {.prefix = prefix, .delimiter = "/", .page_token = token};

		rc = gcs_list(gcs, &q, &page);
		if (!rc)
			rc = add_page(out, &page, prefix, d);
		if (rc)
			goto out;
		free(token);
		token = page.next_page_token;
		page.next_page_token = NULL;
		gcs_list_page_clear(&page);
	} while (token && (max_pages == 0 || ++pages < max_pages));
	out->complete = token == NULL;
	finish(out, implicit_dirs);
	rc = 0;
out:
	gcs_list_page_clear(&page);
	free(token);
	free(prefix);
	if (rc)
		dirlist_clear(out);
	return rc;
}

/* Characters that names commonly count through, in order. */
static const char *const name_classes[] = {"0123456789", "abcdefghijklmnopqrstuvwxyz",
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"};

static const char *successors(char ch)
{
	for (size_t i = 0; i < sizeof(name_classes) / sizeof(name_classes[0]); i++) {
		const char *at = strchr(name_classes[i], ch);

		if (ch && at)
			return at + 1;
	}
	return "";
}

size_t dir_split_points(const char *first, const char *last, const char *end, size_t plen,
			char **out, size_t max)
{
	size_t llen = strlen(last), c = 0, n = 0;

	while (first[c] && first[c] == last[c])
		c++;
	if (llen == 0)
		return 0;
	/* A page varies from position c on: the next names most likely go on at c, counting past
	 * the page's last character there, or once that runs out, one position further left. */
	for (size_t p = c < llen ? c : llen - 1; p + 1 > plen; p--) {
		const char *next = successors(last[p]);

		for (; *next && n < max; next++) {
			char *b = malloc(p + 2);

			if (!b)
				break;
			memcpy(b, last, p);
			b[p] = *next;
			b[p + 1] = '\0';
			if (end && strcmp(b, end) >= 0) {
				free(b);
				break;
			}
			out[n++] = b;
		}
		if (n > 0 || p == 0)
			break;
	}
	return n;
}

/* A parallel listing: a queue of key ranges [start, end), each read page by page by a few
 * workers. The first page of a range tells where its names lie; when more follow, the rest
 * of the range is split at guessed points (dir_split_points()) so that the pieces are read at
 * once. A guess that lands past the last name costs one empty page. */
struct lrange {
	char *start, *end, *token; /* NULL: from the beginning, to the end, first page */
	struct lrange *next;
};

struct plist {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct lrange *queue;
	int busy, rc;
	struct gcs_client *gcs;
	const char *prefix;
	const struct iattr_defaults *d;
	struct dirlist *out;
};

#define SPLIT_MAX 26

static void lrange_free(struct lrange *r)
{
	free(r->start);
	free(r->end);
	free(r->token);
	free(r);
}

static void lrange_free_all(struct lrange *r)
{
	while (r) {
		struct lrange *next = r->next;

		lrange_free(r);
		r = next;
	}
}

static struct lrange *lrange_new(const char *start, const char *end)
{
	struct lrange *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->start = start ? strdup(start) : NULL;
	r->end = end ? strdup(end) : NULL;
	if ((start && !r->start) || (end && !r->end)) {
		lrange_free(r);
		return NULL;
	}
	return r;
}

/* The smallest and the largest name of a page (items and prefixes are each sorted). */
static void page_bounds(const struct gcs_list_page *pg, const char **lo, const char **hi)
{
	*lo = *hi = NULL;
	if (pg->n_items) {
		*lo = pg->items[0].name;
		*hi = pg->items[pg->n_items - 1].name;
	}
	if (pg->n_prefixes) {
		const char *a = pg->prefixes[0], *b = pg->prefixes[pg->n_prefixes - 1];

		if (!*lo || strcmp(a, *lo) < 0)
			*lo = a;
		if (!*hi || strcmp(b, *hi) > 0)
			*hi = b;
	}
}

/* Replaces range r, whose first page ended at last, by pieces; called with the lock held.
 * Returns 0 when r should rather go on with its page token. */
static int split_range(struct plist *pl, struct lrange *r, const char *first, const char *last)
{
	char *points[SPLIT_MAX];
	size_t n = dir_split_points(first, last, r->end, strlen(pl->prefix), points, SPLIT_MAX);
	struct lrange *pieces = NULL, **tail = &pieces;
	int ok = n > 0;

	/* [last, p0), [p0, p1), ..., [pn-1, end): last itself comes again, and merges. */
	for (size_t i = 0; ok && i <= n; i++) {
		struct lrange *piece =
			lrange_new(i ? points[i - 1] : last, i < n ? points[i] : r->end);

		if (!piece)
			ok = 0;
		else {
			*tail = piece;
			tail = &piece->next;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(points[i]);
	if (!ok) {
		lrange_free_all(pieces);
		return 0;
	}
	*tail = pl->queue;
	pl->queue = pieces;
	lrange_free(r);
	return 1;
}

/* What a page of range r (or the error that came instead) means: its entries join the
 * listing, and r is done, split, or queued again for its next page. With pl->lock held once
 * workers run. */
static void plist_take_page(struct plist *pl, struct lrange *r, int rc, struct gcs_list_page *page)
{
	const char *lo, *hi;

	if (!rc)
		rc = add_page(pl->out, page, pl->prefix, pl->d);
	if (rc) {
		if (!pl->rc)
			pl->rc = rc;
		lrange_free(r);
		return;
	}
	if (!page->next_page_token) {
		lrange_free(r); /* this range is done */
		return;
	}
	page_bounds(page, &lo, &hi);
	if (r->token || !lo || !split_range(pl, r, lo, hi)) {
		free(r->token);
		r->token = page->next_page_token;
		page->next_page_token = NULL;
		r->next = pl->queue;
		pl->queue = r;
	}
}

static int plist_list(struct plist *pl, const struct lrange *r, struct gcs_list_page *page)
{
	struct gcs_list_query q = {.prefix = pl->prefix,
				   .delimiter = "/",
				   .page_token = r->token,
				   .start_offset = r->start,
				   .end_offset = r->end};

	return gcs_list(pl->gcs, &q, page);
}

static void *plist_worker(void *arg)
{
	struct plist *pl = arg;

	pthread_mutex_lock(&pl->lock);
	for (;;) {
		struct gcs_list_page page = {0};
		struct lrange *r;
		int rc;

		while (!pl->queue && pl->busy && !pl->rc)
			pthread_cond_wait(&pl->changed, &pl->lock);
		if (pl->rc || !pl->queue)
			break;
		r = pl->queue;
		pl->queue = r->next;
		pl->busy++;
		pthread_mutex_unlock(&pl->lock);

		rc = plist_list(pl, r, &page);

		pthread_mutex_lock(&pl->lock);
		plist_take_page(pl, r, rc, &page);
		pl->busy--;
		pthread_cond_broadcast(&pl->changed);
		pthread_mutex_unlock(&pl->lock);
		gcs_list_page_clear(&page);
		pthread_mutex_lock(&pl->lock);
	}
	pthread_cond_broadcast(&pl->changed);
	pthread_mutex_unlock(&pl->lock);
	return NULL;
}

int dirlist_fetch(struct gcs_client *gcs, const char *dirpath, const struct iattr_defaults *d,
		  int implicit_dirs, int parallel, struct dirlist *out)
{
	struct plist pl = {.gcs = gcs, .d = d, .out = out};
	struct gcs_list_page page = {0};
	pthread_t threads[DIRLIST_PARALLEL_MAX];
	struct lrange *whole;
	int started = 0;
	char *prefix;

	if (parallel <= 1)
		return dirlist_fetch_pages(gcs, dirpath, d, implicit_dirs, 0, out);
	if (parallel > DIRLIST_PARALLEL_MAX)
		parallel = DIRLIST_PARALLEL_MAX;
	memset(out, 0, sizeof(*out));
	prefix = listing_prefix(dirpath);
	whole = lrange_new(NULL, NULL);
	if (!prefix || !whole) {
		free(prefix);
		free(whole);
		return -ENOMEM;
	}
	pl.prefix = prefix;
	pthread_mutex_init(&pl.lock, NULL);
	pthread_cond_init(&pl.changed, NULL);
	/* The first page here: most directories end with it, and need no workers. */
	plist_take_page(&pl, whole, plist_list(&pl, whole, &page), &page);
	gcs_list_page_clear(&page);
	if (pl.queue && !pl.rc) {
		for (; started < parallel - 1; started++)
			if (pthread_create(&threads[started], NULL, plist_worker, &pl))
				break;
		plist_worker(&pl); /* the calling thread works too */
		for (int i = 0; i < started; i++)
			pthread_join(threads[i], NULL);
	}
	lrange_free_all(pl.queue);
	pthread_cond_destroy(&pl.changed);
	pthread_mutex_destroy(&pl.lock);
	free(prefix);
	if (pl.rc) {
		dirlist_clear(out);
		return pl.rc;
	}
	out->complete = 1;
	finish(out, implicit_dirs);
	return 0;
}
