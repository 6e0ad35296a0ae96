"""Network faults: a TCP proxy that misbehaves on purpose, and the daemon run through it."""
