"""`lockbreak.engines.plain_bfs` under the name `lockbreak.engines.frontier` imports it by."""

from lockbreak.engines.plain_bfs import ENGINE, check

__all__ = ["ENGINE", "check"]
