"""The kernel manager the dashboards are served with: a preheated kernel is not idle.

Voila keeps a pool of preheated kernels (each has run its notebook and waits for a page)
and its culler skips them, but their idle clock runs all the while. A kernel that waited in
the pool longer than the cull timeout is stale the moment Voila hands it to a page, and the
next cull pass, before the page's websocket connects, shuts it down: the page then hangs on
"Loading widget...". Here every cull pass first restarts the clock of the kernels waiting
in the pool, so a handed-out kernel has the whole timeout to be connected to.
"""

from __future__ import annotations

from datetime import UTC, datetime

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

__all__ = ["PooledKernelManager"]


class PooledKernelManager(AsyncMappingKernelManager):
    """:class:`AsyncMappingKernelManager` whose culler counts pool time as activity."""

    def pooled(self) -> list[str]:
        """The ids of the kernels ready in Voila's pool (none without preheating)."""
        ids = []
        for pool in getattr(self, "_pools", {}).values():
            for item in pool:
                if item.done() and not item.cancelled() and item.exception() is None:
                    ids.append(item.result().get("kernel_id"))
        return ids

    async def cull_kernels(self) -> None:
        now = datetime.now(UTC)
        for kernel_id in self.pooled():
            kernel = self._kernels.get(kernel_id)
            if kernel is not None:
                kernel.last_activity = now
        await super().cull_kernels()
