/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __LINUX_SPINLOCK_H
#define __LINUX_SPINLOCK_H

/*
 * The lock-break questions of a v6.11-shaped <linux/spinlock.h>: should the
 * holder of a contended lock let the waiter in?
 */
#include <linux/preempt.h>

/*
 * Does a critical section need to be broken because another task waits
 * for its lock? Only a kernel booted with a preemptible model says yes:
 * under none and voluntary the holder breaks for its own reschedule only.
 */
static inline int spin_needbreak(spinlock_t *lock)
{
	if (!preempt_model_preemptible())
		return 0;

	return spin_is_contended(lock);
}

/*
 * The same question for a reader-writer lock: is a writer (or, for a
 * writer, anyone) queued behind the holder?
 */
static inline int rwlock_needbreak(rwlock_t *lock)
{
	if (!preempt_model_preemptible())
		return 0;

	return rwlock_is_contended(lock);
}

#endif /* __LINUX_SPINLOCK_H */
