"""What must hold: the named properties of docs/semantics.md section 8, in one catalogue."""

from properties.catalogue import CATALOGUE, Property, by_name, specs

__all__ = ["CATALOGUE", "Property", "by_name", "specs"]
