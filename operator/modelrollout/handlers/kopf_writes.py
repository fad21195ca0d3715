"""kopf's own writes, fenced like ours (handlers.fencing).

kopf writes to a ModelDeployment only to add its finalizer (a daemon runs for it) and
to take the finalizer off once the daemon stopped at deletion. A hot standby runs kopf
too (handlers.leadership), so without this it would add and remove finalizers beside
the leader, and take one off while the leader's loop still releases the route. A
write the fence holds back is dropped as if the object were gone: kopf decides the
finalizer afresh on the object's next event, in whichever replica leads then.
"""

from __future__ import annotations

import logging
from typing import Any

from kopf._cogs.clients import patching

from modelrollout.handlers.fencing import Fence

logger = logging.getLogger("modelrollout")
_PATCH_OBJ = patching.patch_obj  # kopf's own, kept before we replace it


def install(fence: Fence) -> None:
    async def fenced_patch_obj(**kwargs: Any) -> tuple[Any, Any]:
        if not fence.holds():
            logger.debug(
                "%s/%s: kopf's write held back: the Lease is not provably held",
                kwargs.get("namespace"),
                kwargs.get("name"),
            )
            return None, None
        return await _PATCH_OBJ(**kwargs)

    patching.patch_obj = fenced_patch_obj
