"""The relay's buffers: :class:`BufferPool`, page-aligned ``mmap`` buffers reused by
trio tasks and relay threads alike, and their size."""

from __future__ import annotations

import mmap

#: bytes read per ``recv_into``; large reads are what make a Python relay fast
BUFFER_SIZE = 1024 * 1024
#: how many free buffers the pool keeps for reuse
POOL_KEEP = 8


class BufferPool:
    """Reusable buffers, shared by trio tasks and relay threads: ``pop`` and ``append``
    on a list are atomic, which is all the sharing needs.

    Each buffer is an anonymous ``mmap``, so it starts on a page boundary. That matters:
    a ``bytearray`` of this size comes from ``malloc`` 16 bytes past a page boundary, and
    the kernel's copies into and out of a misaligned buffer cost ~1.6x as much
    (docs/PERFORMANCE.md: 326 vs 197 ms of CPU per GB relayed)."""

    def __init__(self, size: int = BUFFER_SIZE, keep: int = POOL_KEEP) -> None:
        self.size = size
        self.keep = keep
        self._free: list[mmap.mmap] = []
        #: buffers made so far (for tests and benchmarks: two threads allocating at the
        #: same moment may count one)
        self.allocated = 0

    def acquire(self) -> mmap.mmap:
        try:
            return self._free.pop()
        except IndexError:
            self.allocated += 1
            return mmap.mmap(-1, self.size)

    def release(self, buf: mmap.mmap) -> None:
        if len(self._free) < self.keep:
            self._free.append(buf)
