"""Media I/O: probing, streaming decode to linear float frames, encoding sinks, sidecar files."""
