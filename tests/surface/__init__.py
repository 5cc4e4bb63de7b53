"""Cross-cutting: the public names across packages. Every adapter exports the same names with the
same shapes; every error class any package defines is listed in okru_proto.errors; a name that left
one package for another (okru_asgi, okru_io) still resolves from its old path, with a
DeprecationWarning naming its new home. okru_proto's own namespaces are tested in
tests/core/test_public_surface.py (which runs without the adapters installed)."""
