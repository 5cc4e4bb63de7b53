"""okru_io: the blocking file I/O that every okru adapter shares, so it is written once.

The core (:mod:`okru_proto`) plans what an upload sends (a
:class:`~okru_proto.adapter.StreamedBody` of bytes and byte ranges of the user's source) but
never opens a file; an adapter sends the plan. Between the two sits the one job both adapters
share: measuring a source (:func:`source_size`, or :func:`source_size_async` from an event
loop, in a worker thread; :func:`measure_source` / :func:`measure_source_async` for the video
flow's fingerprint and resume sample) and reading its planned ranges (:class:`SourceReader`), with the same
rules and the same :class:`~okru_proto.UsageError` text on every adapter.

For adapter authors; applications never call it.
"""

from __future__ import annotations

from okru_proto import __version__ as __version__  # one version for every okru package

from ._sources import (
    SourceReader,
    describe_source,
    measure_source,
    measure_source_async,
    source_size,
    source_size_async,
)

__all__ = ["SourceReader", "describe_source", "measure_source", "measure_source_async", "source_size",
           "source_size_async"]
