"""The one base class of riskstrat's errors.

Every error the library raises for a user to act on (bad settings, a refused delivery, a model
that cannot be trained, a missing snapshot) is a :class:`RiskstratError` whose message is one
line naming the file, month, row or rule, never a member's data. The command line catches this
class alone: anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class RiskstratError(Exception):
    """Something a user can fix; the message is one line and names where."""
