"""lockbreak: a model checker for lock-break correctness in Linux-style kernels.

`lockbreak.core` holds the types every part shares, `lockbreak.engines` the checkers (which see
only those types), `lockbreak.report` the rendering and `lockbreak.cli` the command line.
"""
