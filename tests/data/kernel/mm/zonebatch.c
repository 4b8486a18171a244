// SPDX-License-Identifier: GPL-2.0
/*
 * Freeing batches of pages under the zone lock, with interrupts disabled.
 */
#include <linux/mm.h>
#include <linux/spinlock.h>

#define BATCH 32

static void zone_lock(struct zone *zone, unsigned long *flags)
{
	spin_lock_irqsave(&zone->lock, *flags);
}

static void zone_unlock(struct zone *zone, unsigned long flags)
{
	spin_unlock_irqrestore(&zone->lock, flags);
}

/* Breaks the zone lock when someone waits or a reschedule is due, interrupts back on. */
void free_batch(struct zone *zone, struct list_head *pages)
{
	unsigned long flags;
	int count = 0;

	zone_lock(zone, &flags);
	while (!list_empty(pages)) {
		struct page *page = list_first_entry(pages, struct page, lru);

		list_del(&page->lru);
		__free_one_page(page, zone);
		if (++count < BATCH)
			continue;
		count = 0;
		if (need_resched() || spin_needbreak(&zone->lock)) {
			zone_unlock(zone, flags);
			cond_resched();
			zone_lock(zone, &flags);
		}
	}
	zone_unlock(zone, flags);
}

/* Pins the page before dropping the lock to work on it, then revalidates. */
void scan_zone(struct zone *zone)
{
	struct page *page;

	spin_lock_irq(&zone->lock);
	list_for_each_entry(page, &zone->free_list, lru) {
		switch (page->order) {
		case 0:
		case 1:
			continue;
		case 2:
			break;
		default:
			get_page(page);
			spin_unlock_irq(&zone->lock);
			copy_highpage(page, zone->scratch);
			cond_resched();
			spin_lock_irq(&zone->lock);
			put_page(page);
			goto out;
		}
	}
out:
	spin_unlock_irq(&zone->lock);
}

/* A trylock of a second zone nested in the first, dropped on contention. */
int move_pages(struct zone *from, struct zone *to)
{
	int moved = 0;

	spin_lock(&from->lock);
again:
	if (!spin_trylock(&to->lock)) {
		spin_unlock(&from->lock);
		cpu_relax();
		spin_lock(&from->lock);
		goto again;
	}
	do {
		moved++;
	} while (moved < BATCH && !spin_needbreak(&from->lock));
	spin_unlock(&to->lock);
	spin_unlock(&from->lock);
	return moved;
}
