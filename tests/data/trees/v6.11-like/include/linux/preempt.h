/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __LINUX_PREEMPT_H
#define __LINUX_PREEMPT_H

/*
 * The preemption model a v6.11-shaped kernel runs under. With
 * CONFIG_PREEMPT_DYNAMIC it is chosen at boot and the tests are out of
 * line; otherwise the build decides.
 */
#include <asm-generic/preempt.h>

#define PREEMPT_LOCK_OFFSET	PREEMPT_DISABLE_OFFSET

#ifdef CONFIG_PREEMPT_DYNAMIC

extern bool preempt_model_none(void);
extern bool preempt_model_voluntary(void);
extern bool preempt_model_full(void);

#else

static inline bool preempt_model_none(void)
{
	return IS_ENABLED(CONFIG_PREEMPT_NONE);
}
static inline bool preempt_model_voluntary(void)
{
	return IS_ENABLED(CONFIG_PREEMPT_VOLUNTARY);
}
static inline bool preempt_model_full(void)
{
	return IS_ENABLED(CONFIG_PREEMPT);
}

#endif

static inline bool preempt_model_rt(void)
{
	return IS_ENABLED(CONFIG_PREEMPT_RT);
}

/*
 * Is the kernel's preemption model preemptible? A PREEMPT_RT kernel is
 * preemptible whatever else is set.
 */
static inline bool preempt_model_preemptible(void)
{
	return preempt_model_full() || preempt_model_rt();
}

#endif /* __LINUX_PREEMPT_H */
