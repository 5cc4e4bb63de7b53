"""`okru login` and `okru logout`: the commands (``command``), the stored login file (``stored``)
and the loopback listener that receives the browser's answer (``callback``)."""
