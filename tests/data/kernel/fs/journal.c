// SPDX-License-Identifier: GPL-2.0
/*
 * Writing back the buffers of the oldest transaction of a journal, a batch at a time,
 * with the journal's list lock broken between batches.
 */
#include <linux/sched.h>
#include <linux/spinlock.h>

#define BATCH_MAX 64

/* After each batch it checks that its transaction is still the oldest before using it. */
int journal_checkpoint(struct journal *j)
{
	struct transaction *t;
	struct jbuf *jb;
	int __maybe_unused queued;
	int batch = 0;

	spin_lock(&j->list_lock);
	t = j->checkpoint_list;
	if (!t)
		goto out;
restart:
	if (j->checkpoint_list != t)
		goto out;
	while (t->dirty) {
		jb = t->dirty;
		if (jbuf_locked(jb)) {
			spin_unlock(&j->list_lock);
			wait_for_jbufs(j);
			goto retry;
		}
		t->dirty = jb->next;
		j->batch[batch++] = jb;
		if (batch == BATCH_MAX || need_resched() || spin_needbreak(&j->list_lock))
			goto flush;
	}
	if (batch) {
flush:
		spin_unlock(&j->list_lock);
retry:
		write_batch(j, &batch);
		spin_lock(&j->list_lock);
		goto restart;
	}
out:
	spin_unlock(&j->list_lock);
	return 0;
}

/* The same without the check: the transaction may have been freed during the batch. */
int journal_checkpoint_stale(struct journal *j)
{
	struct transaction *t;
	int batch = 0;

	spin_lock(&j->list_lock);
	t = j->checkpoint_list;
	if (!t)
		goto out;
restart:
	while (t->dirty) {
		t->dirty = t->dirty->next;
		if (++batch == BATCH_MAX || need_resched() ||
		    spin_needbreak(&j->list_lock)) {
			spin_unlock(&j->list_lock);
			write_batch(j, &batch);
			spin_lock(&j->list_lock);
			goto restart;
		}
	}
out:
	spin_unlock(&j->list_lock);
	return 0;
}
