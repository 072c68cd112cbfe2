"""Open-vocabulary detectors that find named focus subjects (see :mod:`bokehfx.detect.owl`)."""
