"""Focus planning: keyframed focus plans, their per-frame evaluation, the prompt grammar, tracking.

See :mod:`bokehfx.focus.plan` (model and evaluation), :mod:`bokehfx.focus.prompt` (the ``--prompt``
grammar and the flag merge; its words in :mod:`bokehfx.focus.lexicon`, read by
:mod:`bokehfx.focus.tokens`, :mod:`bokehfx.focus.terms` and :mod:`bokehfx.focus.clauses`),
:mod:`bokehfx.focus.canonical` (a plan in the grammar's words), :mod:`bokehfx.focus.subjects`
(the named-subject detector interface), :mod:`bokehfx.focus.tracking` (point and subject tracking) and
:mod:`bokehfx.timecode` (exact time).
"""

from bokehfx.focus.plan import (
    BLUR_LABELS,
    K_AT_F1,
    PLAN_SCHEMA,
    SYMBOLIC_PERCENTILES,
    Blur,
    DepthTarget,
    DisparityTarget,
    FocusCurve,
    FocusPlan,
    FrameFocus,
    Interp,
    Keyframe,
    PlanEvaluator,
    PointTarget,
    RegionTarget,
    SubjectTarget,
    SymbolicTarget,
    parse_blur,
    parse_target,
    stack_focus,
    target_kind,
)

__all__ = [
    "BLUR_LABELS",
    "K_AT_F1",
    "PLAN_SCHEMA",
    "SYMBOLIC_PERCENTILES",
    "Blur",
    "DepthTarget",
    "DisparityTarget",
    "FocusCurve",
    "FocusPlan",
    "FrameFocus",
    "Interp",
    "Keyframe",
    "PlanEvaluator",
    "PointTarget",
    "RegionTarget",
    "SubjectTarget",
    "SymbolicTarget",
    "parse_blur",
    "parse_target",
    "stack_focus",
    "target_kind",
]
