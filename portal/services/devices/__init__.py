"""A user's devices: read as rows, changed, versioned for polled lists, flagged, placed."""
