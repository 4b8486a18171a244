"""Rendering results for people and machines: checklists, traces in kernel words, JSON."""
