/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_PREEMPT_H
#define __ASM_PREEMPT_H

/*
 * Is a reschedule due, and may this caller take it? It may when it holds
 * nothing beyond @preempt_offset (the one lock a lock-break helper drops).
 */
static __always_inline bool should_resched(int preempt_offset)
{
	return unlikely(preempt_count() == preempt_offset &&
			tif_need_resched());
}

#endif /* __ASM_PREEMPT_H */
