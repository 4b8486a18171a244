"""Scenario files: loading, validation and static checks of each CPU's code."""

from model.scenario.load import find_scenarios, load_scenario
from model.scenario.static import check_scenario
from model.scenario.types import Cpu, Expectation, Kernel, Scenario

__all__ = ["Cpu", "Expectation", "Kernel", "Scenario", "check_scenario", "find_scenarios",
           "load_scenario"]
