// SPDX-License-Identifier: GPL-2.0
/*
 * A hash of cached objects, looked up under the hash lock. A lookup that
 * meets an object being torn down sleeps until the teardown is done and
 * looks again; a miss allocates outside the lock and looks a second time
 * before it inserts, since another task may have inserted meanwhile.
 */

static struct cobj *find_cobj_fast(struct cobj_hash *h, unsigned long key)
{
	struct cobj *obj;

repeat:
	hlist_for_each_entry(obj, &h->head, hash) {
		if (obj->key != key)
			continue;
		spin_lock(&obj->lock);
		if (obj->state & COBJ_FREEING) {
			spin_unlock(&obj->lock);
			spin_unlock(&h->lock);
			schedule();
			spin_lock(&h->lock);
			goto repeat;
		}
		obj->refs++;
		spin_unlock(&obj->lock);
		return obj;
	}
	return NULL;
}

struct cobj *cobj_get(struct cobj_hash *h, unsigned long key)
{
	struct cobj *obj, *fresh;

	spin_lock(&h->lock);
	obj = find_cobj_fast(h, key);
	spin_unlock(&h->lock);
	if (obj)
		return obj;

	fresh = cobj_alloc(key);
	if (!fresh)
		return NULL;

	spin_lock(&h->lock);
	obj = find_cobj_fast(h, key);
	if (!obj) {
		hlist_add_head(&fresh->hash, &h->head);
		spin_unlock(&h->lock);
		return fresh;
	}
	spin_unlock(&h->lock);
	cobj_free(fresh);
	return obj;
}
