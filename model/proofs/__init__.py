"""Proofs for any number of CPUs: the era's lock-break loop as a parameterized transition system.

The per-CPU program is compiled from the era definitions (`model.loops` shapes through
`model.compile`); `transition` turns its instructions into z3 formulas over an uninterpreted
sort of CPUs, `symlocks` gives the lock algorithms their any-N form, `candidates` and `houdini`
find a quantified inductive invariant, `goals` names what is proved, and `prove` runs it all.
"""
