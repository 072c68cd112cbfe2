"""bokehfx: controllable, flicker-free depth of field for all-in-focus footage.

The package is organised by stage of the flow (see README):

- ``bokehfx.io``: media probing, streaming decode to linear float frames, encoding sinks.
- ``bokehfx.pipeline``: window planning and the render job that ties stages together.
- ``bokehfx.focus``: focus plans (keyframes) and the prompt grammar.
- ``bokehfx.depth``: depth sidecars, estimators, temporal alignment and caching.
- ``bokehfx.renderers``: the physical and diffusion engines.
- ``bokehfx.timeline``: OpenTimelineIO ingestion and relinking.
- ``bokehfx.training``: datasets and training loops for the diffusion engine.
- ``bokehfx.metrics``: image and temporal quality metrics.
"""

__version__ = "0.1.0.dev0"
