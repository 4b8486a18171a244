"""The C-like kernel code shared by scenarios and era definitions: syntax trees and parser."""

from model.lang.parser import Mode, parse_code

__all__ = ["Mode", "parse_code"]
