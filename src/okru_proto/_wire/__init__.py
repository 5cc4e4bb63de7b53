"""The wire steps: signing (with the circuit choice), REST calls, OAuth, the login dialog and
reply decoding. Private: their public names are listed by :mod:`okru_proto.adapter`."""
