"""Cross-cutting: reliability under load and faults (whole-call deadlines, one refresh for many
concurrent calls, fault storms with no leaked descriptors), on every adapter it concerns."""
