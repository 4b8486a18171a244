"""The kernel's lock world: eras, lock algorithms, the scenario language, the kernel model."""
