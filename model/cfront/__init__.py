"""Kernel C in: unpreprocessed kernel source read with tree-sitter and abstracted to what lock
breaking needs (docs/semantics.md section 10)."""
