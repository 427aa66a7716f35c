"""AMI listener: call outcomes and opt-outs from the Asterisk Manager Interface.

`calls.CallTracker` (pure: events in, outcomes out), `events` (UserEvent and ChanVariable
parsing), `listener.AmiListener` (the panoramisk connection, supervised).
"""

from ami_listener.calls import CallTracker
from ami_listener.listener import AmiListener

__all__ = ["AmiListener", "CallTracker"]
