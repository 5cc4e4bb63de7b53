"""okru's test suite: its folders mirror the source folders (tests/README.md says where a test goes)."""
