"""The clause forms of a ``--prompt``: focus, pulls, blur, blurred regions, negation, f-stops.

:class:`ClauseReader` adds the clause forms to :class:`bokehfx.focus.terms.TermReader`; each form
returns a :class:`Clause` and the index after it, or None. A clause is read only when one form
covers all of its tokens (see :func:`bokehfx.focus.prompt.parse_prompt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bokehfx.errors import UsageError
from bokehfx.focus.lexicon import (
    ADD_WORDS,
    ADVERB_SIZES,
    BLUR_REST,
    BLUR_VERBS,
    BLUR_WORDS,
    CUT_WORDS,
    DOF_SIZES,
    END_WORDS,
    FOCUS_LEAD,
    FOCUS_NOUNS,
    EXCEPT_WORDS,
    FOCUS_WORDS,
    FRAME_WORDS,
    HOLD_WORDS,
    ISOLATE_VERBS,
    KEEP_WORDS,
    MOVE_WORDS,
    NEGATION_WORDS,
    PREPS,
    SHARP_PHRASES,
    SHARP_WORDS,
    SIZE_WORDS,
    SOFT_PHRASES,
    SOFT_SIZES,
    SOFT_WORDS,
    START_WORDS,
    STAY_WORDS,
    TO_WORDS,
)
from bokehfx.focus.plan import Blur, Interp, Target
from bokehfx.focus.terms import TermReader, Timing

#: Verbs that blur their object by themselves ("soften the background"); the others need a soft
#: word after it ("throw the background out of focus").
SELF_BLURRING_VERBS = frozenset({"blur", "blurs", "soften", "softens", "defocus", "defocuses", "smear", "smears",
                                 "melt", "melts", "haze", "diffuse", "obscure", "blurring", "softening"})
#: An aperture's size as blur: a wide (fast) aperture blurs a lot, a small (stopped-down) one little.
APERTURE_SIZES = {"wide": "large", "wide-open": "large", "open": "large", "fast": "large", "large": "large",
                  "big": "large", "bright": "large", "small": "small", "narrow": "small", "tiny": "small",
                  "stopped-down": "small", "medium": "medium", "moderate": "medium"}
#: Words between the focus and its move ("focus should move to ...").
PULL_MODALS = frozenset({"should", "will", "must", "can", "needs", "need", "to", "then", "plane", "point"})
#: Leads of a pull sentence that say nothing more ("let the focus drift to ...").
PULL_LEADS = frozenset({"let", "have", "make", "then", "now", "it", "it's", "this", "that"})
#: Size words that make a clause alone ("really creamy"): they can only be about blur.
LONE_SIZES = frozenset({"creamy", "dreamy", "buttery"})
#: Words between size words that add nothing ("a barely noticeable blur", "a lot of bokeh").
SIZE_FILLERS = frozenset({"bit", "lot", "of", "amount", "too", "noticeable", "visible", "perceptible", "any",
                          "degree", "level", "quantity"})
FSTOP_LEADS = frozenset({"at", "shot", "aperture", "f-stop", "fstop", "f-number", "of", "iris", "stop", "wide",
                         "open", "shoot", "shooting", "lens", "use", "using", "set", "to", "an", "stopped", "down", "it"})


@dataclass
class Clause:
    """One clause read: ``kind`` is static, pull, end or blur.

    ``blurred`` is a region said to be out of focus (by a blur verb, a soft word or a negation);
    ``negated`` marks "not X" forms; ``blur_word`` / ``blur_value`` the blur it states.
    """

    kind: str
    target: Optional[Target] = None
    source: Optional[Target] = None
    timing: Optional[Timing] = None
    blur_word: Optional[str] = None
    blur_value: Optional[Blur] = None
    blurred: Optional[Target] = None
    negated: bool = False
    bare: bool = False
    hold: bool = False


class ClauseReader(TermReader):
    """Clause forms over one clause's tokens (see the module docstring)."""

    # --------------------------------------------------------------------------------- focus

    def sharp(self, i: int, after_stay: bool) -> Optional[int]:
        """A sharp word or phrase ("sharp", "in focus", "the focal point"); bare "focus" only after
        a linking word ("the background is the focus")."""
        got = self.take(i, SHARP_WORDS)
        if got is not None:
            return got
        for words in SHARP_PHRASES:
            if words in (("focus",), ("star",), ("hero",)) and not after_stay:
                continue
            j = self.seq(i, *words)
            if j is not None:
                return j
        return None

    def static(self, i: int) -> Optional[tuple[Clause, int]]:
        j = i
        while self.word(j) in FOCUS_LEAD and (self.word(j + 1) in FOCUS_WORDS or self.word(j + 1) in FOCUS_LEAD
                                              or self.phrase(j + 1, FOCUS_NOUNS) is not None):
            j += 1
        if self.word(j) in HOLD_WORDS | {"stay", "stays", "remain", "remains", "rest", "rests"}:
            k = self.skip(j + 1, {"on", "at", "with", "focus", "focused"})
            got = self.target(k) if k > j + 1 else None
            if got is not None:
                timing = Timing()
                return Clause("static", target=got[0], timing=timing, hold=True), self.timings(got[1], timing)
        if self.word(j) == "to" and self.word(j + 1) in ISOLATE_VERBS:
            j += 1
        if self.word(j) in ISOLATE_VERBS:
            got = self.target(self.mark(j + 1))
            if got is not None:
                timing = Timing()
                return Clause("static", target=got[0], timing=timing), self.timings(got[1], timing)
        focus_noun = None if self.word(j) in FOCUS_WORDS else self.phrase(j, FOCUS_NOUNS)
        if self.word(j) in FOCUS_WORDS or focus_noun is not None:
            j = self.mark(focus_noun or j + 1)
            j = self.skip(j, PREPS)
            if self.word(j) in NEGATION_WORDS:
                return self._negated_target(j + 1)
            got = self.target(j)
            if got is None:
                return None
            timing = Timing()
            k = self.timings(got[1], timing)
            return Clause("static", target=got[0], timing=timing), k
        if self.word(j) in START_WORDS:
            j = self.mark(j + 1)
            while self.word(j) in PREPS or self.word(j) in ("with", "off", "by") or self.word(j) in FOCUS_WORDS \
                    or self.word(j) in SHARP_WORDS:
                j = self.mark(j + 1)
            got = self.target(j)
            if got is None:
                return None
            k = self.skip(got[1], STAY_WORDS)
            k = self.sharp(k, True) or k
            return Clause("static", target=got[0], timing=Timing(start=0)), k  # type: ignore[arg-type]
        lead = self.take(i, KEEP_WORDS)
        sharp_first = self.sharp(lead or i, False)
        if sharp_first is not None and self.word(i) not in ("focus",):
            got = self.target(sharp_first)
            if got is not None:
                timing = Timing()
                return Clause("static", target=got[0], timing=timing), self.timings(got[1], timing)
        j = lead or i
        got = self.target(j)
        if got is None:
            return None
        k = got[1]
        stay = self.skip(k, STAY_WORDS)
        if self.word(stay) in NEGATION_WORDS:
            after = self.skip(stay + 1, STAY_WORDS)
            sharp = self.sharp(after, True)
            if sharp is None:
                return None
            return Clause("blur", blurred=got[0], negated=True), sharp
        sharp = self.sharp(stay, stay > k or lead is not None)
        if sharp is None:
            if lead is None and stay == k and k == len(self.t):
                return Clause("static", target=got[0], timing=Timing(), bare=True), k  # a bare target
            if lead is None and stay == k:
                timing = Timing()
                end = self.timings(k, timing)
                if end > k and not timing.untimed:
                    return Clause("static", target=got[0], timing=timing), end
            return None
        if self.word(sharp) in ("of", "in") and self.word(sharp + 1) in FRAME_WORDS:
            sharp = self.mark(sharp + 2)
        timing = Timing()
        k = self.timings(sharp, timing)
        return Clause("static", target=got[0], timing=timing), k

    def _negated_target(self, i: int) -> Optional[tuple[Clause, int]]:
        j = self.skip(i, PREPS | FOCUS_WORDS | {"on", "at"})
        got = self.target(j)
        if got is None:
            return None
        return Clause("blur", blurred=got[0], negated=True), got[1]

    def negation(self, i: int) -> Optional[tuple[Clause, int]]:
        """not X / rather than X / instead of X / don't focus on X / don't blur X (= X sharp)."""
        j = i
        if self.word(j) in ("rather", "instead") and self.word(j + 1) in ("than", "of"):
            return self._negated_target(self.mark(j + 2))
        if self.seq(j, "as", "opposed", "to") is not None:
            return self._negated_target(j + 3)
        j = self.skip(j, {"do", "does", "should", "must", "please", "and", "but"})
        if self.word(j) not in NEGATION_WORDS:
            return None
        j = self.mark(j + 1)
        less = Clause("blur")
        k = self._sizes(self.skip(j, {"too", "so", "that", "overly", "want"}), less, {**SIZE_WORDS, **ADVERB_SIZES})
        if less.blur_word == "large" and self.word(k) in BLUR_WORDS:
            return Clause("blur", blur_word="small"), self.mark(k + 1)
        j = self.skip(j, {"be", "to", "want", "let", "make", "have"})
        if self.word(j) in BLUR_VERBS & SELF_BLURRING_VERBS or self.word(j) in BLUR_WORDS:
            got = self.target(self.mark(j + 1))
            if got is not None:
                return Clause("static", target=got[0], timing=Timing()), got[1]
            return None
        if self.word(j) in FOCUS_LEAD and self.word(j + 1) in FOCUS_WORDS:
            j += 1
        return self._negated_target(j)

    def pull(self, i: int) -> Optional[tuple[Clause, int]]:
        timing = Timing()
        j = self.skip(i, PULL_LEADS)
        j = self.timings(j, timing)
        if self.word(j) in END_WORDS:
            k = self.mark(j + 1)
            while self.word(k) in PREPS or self.word(k) in FOCUS_WORDS or self.word(k) in ("with", "up") \
                    or self.word(k) in SHARP_WORDS:
                k = self.mark(k + 1)
            got = self.target(k)
            if got is None:
                return None
            k = self.skip(got[1], STAY_WORDS)
            k = self.sharp(k, True) or k
            return Clause("end", target=got[0], timing=timing), self.timings(k, timing)
        saw_focus = False
        if self.word(j) in FOCUS_LEAD and self.word(j + 1) in FOCUS_WORDS:
            j += 1
        if self.word(j) in FOCUS_WORDS or self.phrase(j, FOCUS_NOUNS):
            j, saw_focus = self.mark(self.phrase(j, FOCUS_NOUNS) or j + 1), True
            j = self.skip(j, PULL_MODALS)
        saw_move = False
        for _ in range(2):
            if self.word(j) in CUT_WORDS:
                timing.interp, j, saw_move = Interp.HOLD, self.mark(j + 1), True
            j = self.timings(j, timing)
            if self.word(j) in MOVE_WORDS:
                j, saw_move = self.mark(j + 1), True
            if self.word(j) in FOCUS_WORDS:
                j, saw_focus = self.mark(j + 1), True
                j = self.skip(j, {"plane", "point", "distance"})
        j = self.skip(j, {"over", "across", "away"} if saw_move else set())
        if self.word(j) == "back" and self.word(j + 1) in TO_WORDS:
            j, saw_move = self.mark(j + 1), True
        saw_move = saw_move or timing.interp is Interp.HOLD or (j == i and self.word(j) in ("to", "towards"))
        source = target = None
        if saw_move and self.word(j) not in TO_WORDS and self.word(j) != "from":
            shorthand = self.target(j)
            if shorthand is not None and self.word(shorthand[1]) in TO_WORDS:
                source, j = shorthand
        if not saw_move and not (saw_focus and self.word(j) == "from"):
            shorthand = self.target(j) if self.word(j) != "from" else None
            if shorthand is None and self.word(j) != "from" or (shorthand is not None and
                                                                self.word(shorthand[1]) not in TO_WORDS):
                return None
            if shorthand is not None:
                source, j = shorthand
        while j < len(self.t):
            w = self.word(j)
            if w == "from":
                got = self.target(self.skip(j + 1, SHARP_WORDS))
                if got is not None:
                    source, j = got
                    continue
            if w in TO_WORDS:
                k = self.skip(j + 1, TO_WORDS)
                k = k + 1 if self.word(k) == "back" and self.word(k + 1) in TO_WORDS else k
                k = self.skip(self.skip(k, TO_WORDS), SHARP_WORDS)
                got = self.target(k)
                if got is not None:
                    target, j = got
                    j = self.sharp(self.skip(j, STAY_WORDS), True) or j
                    continue
            k = self.timing(j, timing)
            if k is None:
                break
            j = k
        if target is None:
            return None
        return Clause("pull", target=target, source=source, timing=timing), j

    # ---------------------------------------------------------------------------------- blur

    def _sizes(self, j: int, clause: Clause, table: dict) -> int:
        """Size words or adverbs at ``j`` into ``clause.blur_word`` (two different: an error)."""
        while self.word(j) in table or self.word(j) in SIZE_FILLERS:
            word = self.word(j)
            if word in table:
                size = table[word]  # type: ignore[index]
                if clause.blur_word not in (None, size):
                    raise UsageError(f"prompt: conflicting blur sizes {clause.blur_word!r} and {size!r}")
                clause.blur_word = size
            j = self.mark(j + 1)
        return j

    def soft(self, i: int) -> Optional[int]:
        """A soft word or phrase ("soft", "out of focus", "falls off"): the index after it, or None."""
        return self.take(i, SOFT_WORDS) or self.phrase(i, SOFT_PHRASES)

    def blurred(self, i: int) -> Optional[tuple[Clause, int]]:
        """A region said to be out of focus: soften X / throw X out of focus / X soft / soft X."""
        clause = Clause("blur")
        j = self._sizes(i, clause, ADVERB_SIZES)
        verb = self.word(j)
        if verb in BLUR_VERBS and self.word(j + 1) is not None:
            spared = self.spared(j + 1)
            if spared is not None:
                k = self._sizes(self.skip(spared[1], STAY_WORDS), clause, ADVERB_SIZES)
                soft = self.soft(k)
                if soft is None and verb not in SELF_BLURRING_VERBS:
                    return None
                k = self._tail(soft or k, clause)
                return Clause("static", target=spared[0], timing=Timing(), blur_word=clause.blur_word), k
            got = self.target(self.mark(j + 1))
            if got is not None:
                clause.blurred = got[0]
                k = self._sizes(got[1], clause, ADVERB_SIZES)
                k = self.skip(k, STAY_WORDS)
                k = self._sizes(k, clause, ADVERB_SIZES)
                soft = self.soft(k)
                if soft is None and verb not in SELF_BLURRING_VERBS:
                    return None
                if soft is not None:
                    self._soft_size(clause, k)
                    k = soft
                return clause, self._tail(k, clause)
        j = self.skip(j, BLUR_VERBS - SELF_BLURRING_VERBS)
        for sized in (False, True):
            k = self._sizes(j, clause, SIZE_WORDS) if sized else j
            soft = self.soft(k)
            got = self.target(soft) if soft is not None else None
            if got is not None:
                self._soft_size(clause, k)
                clause.blurred = got[0]
                return clause, self._tail(got[1], clause)
        clause = Clause("blur")
        spared = self.spared(j)
        if spared is not None:
            k = self._sizes(self.skip(spared[1], STAY_WORDS), clause, ADVERB_SIZES)
            soft = self.soft(k)
            if soft is not None:
                return Clause("static", target=spared[0], timing=Timing(), blur_word=clause.blur_word), \
                    self._tail(soft, clause)
        rest = self.skip(j, BLUR_REST)
        k = self._sizes(self.skip(rest, STAY_WORDS), clause, ADVERB_SIZES)
        soft = self.soft(k) if rest > j else None
        if soft is not None:
            self._soft_size(clause, k)
            return clause, self._tail(soft, clause)
        got = self.target(j)
        if got is None:
            return None
        clause = Clause("blur", blurred=got[0])
        k = self.skip(got[1], STAY_WORDS)
        k = self._sizes(k, clause, ADVERB_SIZES)
        soft = self.soft(k)
        if soft is None:
            return None
        self._soft_size(clause, k)
        return clause, self._tail(soft, clause)

    def spared(self, i: int) -> Optional[tuple[Target, int]]:
        """"everything except X" / "all but X" / "everything apart from X": X and the index after it."""
        if self.word(i) not in ("everything", "all", "anything", "whole") or self.word(i + 1) not in EXCEPT_WORDS:
            return None
        j = self.skip(i + 2, {"from", "than", "for"})
        got = self.target(j)
        return None if got is None else (got[0], self.mark(got[1]))

    def _soft_size(self, clause: Clause, i: int) -> None:
        size = SOFT_SIZES.get(self.word(i) or "")
        if size is not None and clause.blur_word is None:
            clause.blur_word = size

    def _tail(self, k: int, clause: Clause) -> int:
        """Adverbs after a blurred region ("heavily", "a lot"), and "into bokeh"."""
        k = self._sizes(k, clause, ADVERB_SIZES)
        if self.word(k) in ("into", "to", "in") and self.word(k + 1) in BLUR_WORDS:
            k = self.mark(k + 2)
        k = self._sizes(k, clause, ADVERB_SIZES)
        timing = Timing()
        later = self.timings(k, timing)
        return later if timing.untimed else k  # "the entire time", "throughout"

    def blur(self, i: int) -> Optional[tuple[Clause, int]]:
        j = self.skip(i, ADD_WORDS)
        if self.word(j) == "no" and self.word(j + 1) in BLUR_WORDS:
            j = self.seq(j + 2, "at", "all") or j + 2
            return Clause("blur", blur_value=Blur(0)), self.mark(j)
        clause = Clause("blur")
        j = self._sizes(j, clause, SIZE_WORDS)
        j = self._sizes(j, clause, ADVERB_SIZES)
        if self.word(j) in ("k", "strength"):
            j2 = self.take(j + 1, {"of"}) or j + 1
            num = self.number(j2)
            if num is None:
                return None
            return Clause("blur", blur_value=Blur(float(num[0]))), self.mark(num[2])
        if self.word(j) not in BLUR_WORDS:
            if j == len(self.t) and j > 0 and self.word(j - 1) in LONE_SIZES and clause.blur_word is not None:
                return clause, j
            got = self.target(j) if j < len(self.t) and self.word(j) not in ("k", "strength") else None
            if got is None or self.word(got[1]) not in BLUR_WORDS:
                return None
            clause.blurred, j = got[0], got[1]  # "a strong background blur"
        j = self.mark(j + 1)
        if self.word(j) in ("on", "in", "to", "for", "behind") and j + 1 < len(self.t):
            got = self.target(j + 1)
            if got is not None:
                clause.blurred = got[0]
                return clause, self._sizes(got[1], clause, ADVERB_SIZES)
        j = self.skip(j, {"amount", "size", "level", "strength", "radius", "of"} | STAY_WORDS)
        if self.word(j) in ("of", "k", "strength", "amount", "size", "level"):
            if self.number(j + 1) is not None:
                j += 1
            elif self.word(j + 1) in ("k", "of") and self.number(j + 2) is not None:
                j += 2
        num = self.number(j)
        if num is not None:
            clause.blur_value = Blur(float(num[0]))
            j = self.mark(num[2])
        j = self._sizes(j, clause, SIZE_WORDS)
        while self.word(j) in BLUR_REST or self.word(j) == "of" and self.word(j + 1) in BLUR_REST:
            j = self.mark(j + 1)
        if clause.blurred is None and self.word(j) not in ADVERB_SIZES and j < len(self.t):
            got = self.target(j)
            if got is not None:
                clause.blurred, j = got
        return clause, self._sizes(j, clause, ADVERB_SIZES)

    def dof(self, i: int) -> Optional[tuple[Clause, int]]:
        j = self.skip(i, ADD_WORDS | {"with", "keep", "everything's", "image", "shot", "frame", "picture",
                                      "should", "must", "will", "look", "looks"})
        w = self.word(j)
        if w in ("all-in-focus", "everything-in-focus"):
            return Clause("blur", blur_value=Blur(0)), self.mark(j + 1)
        if w in ("everything", "all", "nothing", "whole", "entire"):
            k = self.take(j + 1, {"frame", "shot", "image", "picture", "scene"}) or j + 1
            in_focus = self.seq(k, "in", "focus")
            if in_focus is not None and w != "nothing":
                return Clause("blur", blur_value=Blur(0)), in_focus
            k = self.skip(k, STAY_WORDS)
            if w == "nothing":
                end = self.take(k, SOFT_WORDS | BLUR_WORDS) or self.phrase(k, (("out", "of", "focus"),))
            else:
                end = self.seq(k, "in", "focus") or self.take(k, SHARP_WORDS)
            if end is not None:
                return Clause("blur", blur_value=Blur(0)), end
            return None
        if w in ("wide", "wide-open") and self.word(j + 1) == "open" or w == "wide-open":
            end = self.mark(j + (2 if w == "wide" else 1))
            return Clause("blur", blur_word="large"), self.take(end, {"aperture", "lens"}) or end
        if w in APERTURE_SIZES and self.word(j + 1) in ("aperture", "iris", "lens"):
            return Clause("blur", blur_word=APERTURE_SIZES[w]), self.mark(j + 2)  # type: ignore[index]
        if w not in DOF_SIZES:
            return None
        k = j + 1
        end = self.seq(k, "depth", "of", "field") or self.take(k, {"dof", "focus", "depth-of-field"})
        if end is None:
            return None
        end = self.take(end, {"look", "feel", "effect"}) or end
        end = self.skip(end, FOCUS_WORDS | {"centred", "centered"})
        if self.word(end) in ("on", "at", "around", "behind") and end + 1 < len(self.t):
            got = self.target(self.mark(end + 1))
            if got is not None:
                timing = Timing()
                return Clause("static", target=got[0], timing=timing,
                              blur_word=DOF_SIZES[w]), self.timings(got[1], timing)  # type: ignore[index]
        return Clause("blur", blur_word=DOF_SIZES[w]), end  # type: ignore[index]

    def fstop(self, i: int) -> Optional[tuple[Clause, int]]:
        j = self.skip(i, FSTOP_LEADS)
        if j < len(self.t) and self.t[j].kind == "fnum":
            return Clause("blur", blur_value=Blur.from_f_number(float(self.t[j].value))), self.mark(j + 1)
        if self.word(j) == "f" and self.number(j + 1) is not None:
            num = self.number(j + 1)
            return Clause("blur", blur_value=Blur.from_f_number(float(num[0]))), self.mark(num[2])  # type: ignore[index]
        if j > i and any(self.word(k) in ("aperture", "f-stop", "fstop", "f-number") for k in range(i, j)):
            num = self.number(j)
            if num is not None:
                return Clause("blur", blur_value=Blur.from_f_number(float(num[0]))), self.mark(num[2])
        return None

    #: Forms tried in order; the first that covers the whole clause wins.
    FORMS = ("negation", "static", "pull", "blurred", "blur", "dof", "fstop")


__all__ = ["Clause", "ClauseReader"]
