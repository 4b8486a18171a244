// SPDX-License-Identifier: GPL-2.0
/*
 * Walkers declared through a macro, as some subsystems define their callbacks.
 */
#include <linux/spinlock.h>

static DEFINE_SPINLOCK(walker_lock);
static int walker_left;

#define DEFINE_WALKER(name) static void walker_##name(void)

DEFINE_WALKER(slow)
{
	spin_lock(&walker_lock);
	while (walker_left--)
		cond_resched_lock(&walker_lock);
	spin_unlock(&walker_lock);
}
