"""The property catalogue: entries built by keyword, one per name, each with a witness."""

from __future__ import annotations

import pytest

from lockbreak.core import PropertyKind
from model.events import Event
from properties.catalogue import CATALOGUE, KNOWN, Property, by_name


def test_a_property_is_built_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        Property("p", PropertyKind.SAFETY, "holds", "witness", "broken",  # type: ignore[misc]
                 Event.NONE, Event.NONE)
    made = Property(name="p", kind=PropertyKind.SAFETY, holds_when="holds", witness="witness",
                    broken="broken", violated_by=Event.NONE, witnessed_by=Event.NONE)
    assert (made.holds_when, made.witness, made.broken) == ("holds", "witness", "broken")


def test_every_name_is_one_entry_with_a_witness() -> None:
    assert len(set(KNOWN)) == len(CATALOGUE) == 11
    for prop in CATALOGUE:
        assert by_name(prop.name) is prop
        assert prop.holds_when and prop.witness and prop.broken, prop.name
