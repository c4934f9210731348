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

int dirlist_fetch(struct gcs_client *gcs, const char *dirpath, const struct iattr_defaults *d,
		  int implicit_dirs, struct dirlist *out)
{
	return dirlist_fetch_pages(gcs, dirpath, d, implicit_dirs, 0, out);
}

int dirlist_fetch_pages(struct gcs_client *gcs, const char *dirpath, const struct iattr_defaults *d,
			int implicit_dirs, int max_pages, struct dirlist *out)
{
	int pages = 0;
	struct gcs_list_page page = {0};
	char *prefix = *dirpath ? dir_join(dirpath, "") : strdup("");
	char *token = NULL;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	/* dir_join("a", "") gives "a/": the listing prefix of directory "a". */
	if (!prefix)
		goto out;
	size_t plen = strlen(prefix);

	do {
		struct gcs_list_query q = {.prefix = prefix, .delimiter = "/", .page_token = token};

		rc = gcs_list(gcs, &q, &page);
		if (rc)
			goto out;
		for (size_t i = 0; i < page.n_items; i++) {
			const struct gcs_object *o = &page.items[i];
			const char *rel = o->name + plen;
			size_t len = strlen(rel);
			int is_dir = len > 0 && rel[len - 1] == '/';

			if (strncmp(o->name, prefix, plen) != 0)
				continue; /* not ours; a server bug, but never show it */
			if (len == 0)
				continue; /* this directory's own placeholder */
			if (is_dir)
				len--;
			if (!dir_name_showable(rel, len)) {
				out->skipped++;
				continue;
			}
			struct dirlist_entry *e = add_entry(out, rel, len);
			rc = -ENOMEM;
			if (!e)
				goto out;
			e->is_dir = is_dir;
			rc = iattr_from_object(&e->attr, o, is_dir, d);
			if (rc)
				goto out;
			/* A placeholder's generation marks that the attributes are its own. */
			if (is_dir)
				e->attr.generation = o->generation;
		}
		for (size_t i = 0; i < page.n_prefixes; i++) {
			const char *p = page.prefixes[i];
			size_t len = strlen(p);

			if (len <= plen || strncmp(p, prefix, plen) != 0)
				continue;
			len -= plen + 1; /* drop the prefix and the trailing '/' */
			if (!dir_name_showable(p + plen, len)) {
				out->skipped++;
				continue;
			}
			struct dirlist_entry *e = add_entry(out, p + plen, len);
			rc = -ENOMEM;
			if (!e)
				goto out;
			e->is_dir = 1;
			rc = iattr_from_object(&e->attr, NULL, 1, d);
			if (rc)
				goto out;
		}
		free(token);
		token = page.next_page_token;
		page.next_page_token = NULL;
		gcs_list_page_clear(&page);
	} while (token && (max_pages == 0 || ++pages < max_pages));
	out->complete = token == NULL;
	dirlist_sort(out);
	if (!implicit_dirs)
		drop_implicit(out);
	rc = 0;
out:
	gcs_list_page_clear(&page);
	free(token);
	free(prefix);
	if (rc)
		dirlist_clear(out);
	return rc;
}
