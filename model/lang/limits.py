"""How big scenario input may be: nesting, condition length, counts, wakeups, names.

The checks that walk code recurse once per level of nesting, and a count unrolls into states or
instructions, so each of these is refused at the file's line and column, with the limit,
before anything is built from it. Every limit is far above what a kernel code path needs.
"""

MAX_NESTING = 64        # statements nested in statements (loops, ifs, braces)
MAX_CONDITION = 256     # operands of &&, ||, ! and comparisons chained in one condition
MAX_COUNT = 1000        # a repeat (N) count, a [params] value (work(N) is a counted loop)
MAX_WAKEUPS = 16        # a CPU's wakeups
MAX_TOML_NESTING = 64   # arrays and inline tables nested in a scenario file
MAX_NAME = 100          # characters of a scenario name (a part of trace file names)
