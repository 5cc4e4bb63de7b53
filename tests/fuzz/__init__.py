"""Cross-cutting: every parser of the core fed generated input; only okru's typed errors may come
out. ``nox -s fuzz`` raises the example counts (the ``fuzz`` Hypothesis profile)."""
