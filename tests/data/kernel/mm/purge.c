// SPDX-License-Identifier: GPL-2.0
/*
 * Lazy purging of freed areas: a tree walked under a spinlock that is broken with
 * cond_resched_lock(), under an outer mutex that serialises purgers.
 */
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>

static DEFINE_MUTEX(purge_mutex);
static DEFINE_SPINLOCK(free_area_lock);

static void free_area(struct area *va)
{
	kmem_cache_free(area_cachep, va);
}

/* Walks the tree from the start after every break: nothing read before it is used. */
static bool __purge_areas(struct area_root *root)
{
	struct rb_node *node;
	unsigned long nr = 0;

	lockdep_assert_held(&purge_mutex);
	spin_lock(&free_area_lock);
	for (node = rb_first(&root->tree); node; node = rb_first(&root->tree)) {
		struct area *va = rb_entry(node, struct area, rb_node);

		rb_erase(&va->rb_node, &root->tree);
		free_area(va);
		nr++;
		cond_resched_lock(&free_area_lock);
	}
	spin_unlock(&free_area_lock);
	return nr > 0;
}

void purge_areas(struct area_root *root)
{
	mutex_lock(&purge_mutex);
	__purge_areas(root);
	mutex_unlock(&purge_mutex);
}

/* Keeps the next node across cond_resched_lock(): it may be gone when the lock is back. */
static void purge_areas_keep_next(struct area_root *root)
{
	struct rb_node *node, *next;

	mutex_lock(&purge_mutex);
	spin_lock(&free_area_lock);
	node = rb_first(&root->tree);
	while (node) {
		next = rb_next(node);
		rb_erase(node, &root->tree);
		if (cond_resched_lock(&free_area_lock))
			pr_debug("purge: lock dropped\n");
		node = next;
		if (node && node->rb_left)
			node = node->rb_left;
	}
	spin_unlock(&free_area_lock);
	mutex_unlock(&purge_mutex);
}
