// SPDX-License-Identifier: GPL-2.0
/*
 * Dropping every mapping of a tree of extents under its rwlock, letting writers in
 * between, and handing the modified ones to a private list.
 */
#include <linux/rbtree.h>
#include <linux/list.h>
#include <linux/spinlock.h>

struct map_entry {
	struct rb_node rb_node;
	struct list_head list;
	unsigned long flags;
	int gen;
};

struct map_tree {
	struct rb_root_cached map;
	struct list_head modified;
	rwlock_t lock;
	spinlock_t list_lock;
};

#define map_tree_foreach(em, tree) \
	list_for_each_entry(em, &(tree)->modified, list)

static void drop_all_maps(struct map_tree *tree)
{
	write_lock(&tree->lock);
	while (!RB_EMPTY_ROOT(&tree->map.rb_root)) {
		struct rb_node *node = rb_first_cached(&tree->map);
		struct map_entry *em = rb_entry(node, struct map_entry, rb_node);

		em->flags = 0;
		rb_erase_cached(&em->rb_node, &tree->map);
		free_map_entry(em);
		cond_resched_rwlock_write(&tree->lock);
	}
	write_unlock(&tree->lock);
}

static void release_modified(struct map_tree *tree, struct list_head *dispose)
{
	struct map_entry *em, *next;

	spin_lock(&tree->list_lock);
	map_tree_foreach(em, tree) {
		em->gen++;
		cond_resched_lock(&tree->list_lock);
	}
	list_for_each_entry_safe(em, next, &tree->modified, list)
		list_move(&em->list, dispose);
	spin_unlock(&tree->list_lock);
}
