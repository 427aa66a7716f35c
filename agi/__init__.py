"""FastAGI server for the inline compliance check (routes `check` and `optout`).

`start_agi_server(host, port, service)` is the entry point; `service` is anything that fills
`agi.service.GuardService` (in production `dialguard.guard.Guard`).
"""

from agi.server import AgiServer, start_agi_server
from agi.service import GuardService

__all__ = ["AgiServer", "GuardService", "start_agi_server"]
