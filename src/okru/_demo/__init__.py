"""`okru demo`: the whole library against the emulator on loopback (``command``), how a step
is shown (``show``) and the steps themselves (``steps``)."""
