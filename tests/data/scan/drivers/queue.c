// SPDX-License-Identifier: GPL-2.0
/*
 * A request queue drained under its lock with interrupts off.
 */
#include <linux/spinlock.h>
#include <linux/sched.h>

struct rq_queue {
	spinlock_t lock;
	int pending;
};

#define QUEUE_DRAIN_STEP(q)				\
	do {						\
		(q)->pending--;				\
		cond_resched_lock(&(q)->lock);		\
	} while (0)

static void queue_drain(struct rq_queue *q)
{
	unsigned long flags;

	spin_lock_irqsave(&q->lock, flags);
	do {
		q->pending--;
		if (spin_needbreak(&q->lock)) {
			spin_unlock_irqrestore(&q->lock, flags);
			cpu_relax();
			spin_lock_irqsave(&q->lock, flags);
		}
	} while (q->pending > 0);
	spin_unlock_irqrestore(&q->lock, flags);
}

/* Not a site: no loop, the lock is simply given up early. */
static void queue_kick(struct rq_queue *q)
{
	spin_lock(&q->lock);
	q->pending++;
	if (need_resched()) {
		spin_unlock(&q->lock);
		return;
	}
	q->pending--;
	spin_unlock(&q->lock);
}

static void queue_drain_bh(struct rq_queue *q)
{
	spin_lock_bh(&q->lock);
again:
	q->pending--;
	if (q->pending > 0) {
		if (need_resched()) {
			spin_unlock_bh(&q->lock);
			cond_resched();
			spin_lock_bh(&q->lock);
		}
		goto again;
	}
	spin_unlock_bh(&q->lock);
}
