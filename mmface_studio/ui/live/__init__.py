"""Live mode: the microphone drives the head (Live dock, level meter, latency readout, recorded takes)."""
