"""Cross-cutting: security qualities across packages (secrets never leak, boundaries refused,
hostile servers answered with typed errors in bounded time and memory), on every adapter where
the adapters take part (tests/adapters.py)."""
