"""What must hold: the named properties of SEMANTICS.md section 8, in one catalogue."""

from properties.catalogue import CATALOGUE, Property, by_name, specs

__all__ = ["CATALOGUE", "Property", "by_name", "specs"]
