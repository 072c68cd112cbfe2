"""The words of the ``--prompt`` grammar: every vocabulary set the reader matches, in one place.

Each set names one concept of the grammar (see :mod:`bokehfx.focus.prompt`); a word belongs to a
form only through these tables, so what the parser accepts can be read here. All words are
lower case (the tokenizer lowers the prompt).
"""

from __future__ import annotations

from fractions import Fraction

#: Words dropped everywhere: articles, politeness, intensifiers and speaker words.
FILLER = frozenset({
    "the", "a", "an", "please", "just", "very", "really", "quite", "so", "(", ")", "=", ":", "nice", "nicely",
    "super", "extremely", "pretty", "i", "i'd", "we", "we'd", "you", "would", "could", "can", "like", "kindly",
    "overall", "beautiful", "beautifully", "lovely", "finally", "eventually", "lastly", "next", "later",
    "afterwards", "afterward", "ok", "okay", "now", "go", "ahead", "totally", "completely", "fully",
    "entirely", "perfectly", "truly", "most", "only", "both", "more-or-less", "camera's", "lens's",
})
SEPARATOR_WORDS = frozenset({"and", "then", "while", "but", "plus", "also", "with", "whereas", "whilst"})
NO_SPLIT_BEFORE_WITH = frozenset({"start", "starts", "starting", "begin", "begins", "beginning", "open",
                                  "opens", "opening", "end", "ends", "ending"})
#: Words that open a contrast clause: the clause is split before them ("X rather than Y").
CONTRAST_OPENERS = {"rather": "than", "instead": "of", "opposed": None}
NEGATION_WORDS = frozenset({"not", "never", "no", "don't", "dont", "doesn't", "shouldn't", "mustn't",
                            "isn't", "aren't", "nothing", "without", "avoid", "avoiding", "neither", "nor"})
#: Auxiliary words in front of a negation that stay in its clause ("do not focus", "is not sharp").
NEGATION_AUX = frozenset({"do", "does", "should", "must", "is", "are", "will", "be", "to", "but", "and",
                          "can", "stays", "remains", "stay", "remain", "keep", "kept", "'s"})

NEAR_WORDS = frozenset({"near", "foreground", "fore-ground", "front", "fg", "closest", "nearest", "close",
                        "closer", "nearer", "nearby", "forefront", "front-most", "frontmost"})
MIDDLE_WORDS = frozenset({"middle", "midground", "mid-ground", "mid", "middle-ground", "midrange", "mid-range",
                          "center", "centre", "intermediate"})
FAR_WORDS = frozenset({"far", "background", "back-ground", "back", "bg", "distance", "farthest", "furthest",
                       "horizon", "backdrop", "distant", "faraway", "far-away", "rear", "farther", "further",
                       "deepest", "behind", "far-off"})
#: Ordinals of depth layers: first = nearest, second = middle, third / last = farthest.
ORDINALS = {"first": "near", "1st": "near", "front": "near", "second": "middle", "2nd": "middle",
            "third": "far", "3rd": "far", "last": "far", "final": "far", "rearmost": "far"}
TARGET_NOUNS = frozenset({"subject", "subjects", "object", "objects", "plane", "planes", "area", "areas",
                          "part", "parts", "layer", "layers", "elements", "element", "ground", "distance",
                          "field", "region", "things", "thing", "stuff", "one", "ones", "point", "items",
                          "item", "section", "portion", "zone", "side", "end", "depth", "focus-plane",
                          "person", "people", "man", "woman", "guy", "girl", "boy", "actor", "actors",
                          "character", "characters", "figure", "figures", "talent", "face", "faces"})
#: Scenery nouns accepted after a place word ("the distant hills", "the nearby leaves").
SCENE_NOUNS = frozenset({"hills", "hill", "mountains", "mountain", "sky", "skyline", "trees", "tree",
                         "buildings", "building", "city", "landscape", "scenery", "wall", "walls", "sea",
                         "ocean", "lights", "grass", "leaves", "flowers", "plants", "scene", "view",
                         "street", "people", "crowd", "details", "detail", "stuff", "bits"})
#: Words that introduce a place-described target ("whatever is closest", "everything in front").
PLACE_LEADS = frozenset({"whatever", "what", "what's", "whatever's", "everything", "anything", "all",
                         "things", "stuff", "wherever", "that", "which", "that's", "whichever"})
PLACE_LINKS = frozenset({"is", "are", "'s", "sits", "lies", "stands", "that", "which", "that's", "located",
                         "in", "at", "on", "toward", "towards", "of", "to", "up"})
#: "closest to the camera": trailing words after a place word.
CAMERA_WORDS = frozenset({"camera", "lens", "viewer", "us", "cam"})
FRAME_WORDS = frozenset({"frame", "shot", "image", "scene", "picture", "clip", "composition"})

FOCUS_WORDS = frozenset({"focus", "focused", "focusing", "focussed", "focussing", "focuses", "refocus",
                         "refocuses", "refocused", "refocusing"})
FOCUS_LEAD = frozenset({"set", "put", "place", "keep", "hold", "lock", "sets", "puts", "lay", "bring", "put",
                        "land", "direct", "point", "aim", "camera", "lens", "want", "keeps", "holds"})
#: "the focal point is the background", "the focal distance changes from near to far".
FOCUS_NOUNS = (("focal", "point"), ("point", "of", "focus"), ("focal", "plane"), ("focal", "distance"),
               ("focus", "distance"), ("plane", "of", "focus"))
PREPS = frozenset({"on", "at", "to", "onto", "in", "upon", "into", "is", "stays", "remains", "sits", "of",
                   "should", "must", "be", "will", "needs", "stay", "remain", "lie", "lies", "go", "goes",
                   "fall", "falls", "locked", "fixed", "set", "kept", "held", "parked", "resting", "rests"})
MOVE_WORDS = frozenset({
    "rack", "racks", "racking", "racked", "pull", "pulls", "pulling", "pulled", "shift", "shifts",
    "shifting", "shifted", "transition", "transitions", "transitioning", "transitioned", "move", "moves",
    "moving", "moved", "goes", "going", "went", "travel", "travels", "traveling", "travelling",
    "drift", "drifts", "drifting", "change", "changes", "changing", "changed", "switch", "switches",
    "switching", "switched", "sweep", "sweeps", "sweeping", "slide", "slides", "sliding", "glide",
    "glides", "gliding", "passes", "pass", "roll", "rolls", "rolling", "migrate", "migrates", "wander",
    "wanders", "walk", "walks", "hand", "hands", "handoff", "hand-off", "carry", "carries", "follow",
})
TO_WORDS = frozenset({"to", "onto", "towards", "toward", "into", "on", "over"})
KEEP_WORDS = frozenset({"keep", "make", "leave", "have", "hold", "get", "let", "render", "show", "bring",
                        "want", "need", "ensure", "put", "place", "set", "maintain", "keeps", "makes", "brings",
                        "preserve", "retain", "keeping", "making", "leaving", "holding", "having", "bringing"})
STAY_WORDS = frozenset({"is", "stays", "stay", "remains", "remain", "be", "are", "looks", "look", "kept",
                        "should", "must", "will", "needs", "need", "to", "gets", "get", "becomes", "become",
                        "appear", "appears", "being", "staying", "remaining", "comes", "come", "'s",
                        "kept", "left", "rendered", "shown", "held", "seems"})
SHARP_WORDS = frozenset({"sharp", "crisp", "clear", "focused", "focussed", "sharper", "sharpest",
                         "tack-sharp", "razor-sharp", "crystal-clear", "defined", "well-defined", "detailed",
                         "in-focus", "clean", "pin-sharp", "pop"})
#: Multi-word sharp phrases (after fillers are dropped): "in focus", "the focal point", ...
SHARP_PHRASES = (("sharp", "focus"), ("crisp", "focus"), ("in", "sharp", "focus"), ("into", "sharp", "focus"), ("in", "focus"), ("into", "focus"),
                 ("to", "focus"), ("focal", "point"), ("point", "of", "focus"), ("center", "of", "attention"),
                 ("centre", "of", "attention"), ("main", "focus"), ("focus",), ("star",), ("hero",))
#: Words that make a region soft (blurred): "the background soft", "soften the foreground".
SOFT_WORDS = frozenset({"soft", "softer", "blurred", "blurry", "blurrier", "defocused", "defocussed",
                        "out-of-focus", "unfocused", "unfocussed", "fuzzy", "hazy", "smeared", "mushy",
                        "soft-focus", "blurred-out", "creamy", "dreamy", "melted", "obscured",
                        "indistinct", "muted", "diffused", "diffuse", "softened", "blurriest"})
SOFT_PHRASES = (("into", "soft", "focus"), ("in", "soft", "focus"), ("soft", "focus"), ("out", "of", "focus"), ("go", "soft"), ("goes", "soft"), ("fall", "off"), ("falls", "off"),
                ("fall", "away"), ("falls", "away"), ("melt", "away"), ("melts", "away"), ("fade", "away"),
                ("fades", "away"), ("melt",), ("melts",))
#: Verbs whose object is blurred: "soften the background", "throw the foreground out of focus".
BLUR_VERBS = frozenset({"blur", "blurs", "soften", "softens", "defocus", "defocuses", "throw", "throws",
                        "knock", "knocks", "drop", "drops", "push", "pushes", "send", "sends", "let",
                        "melt", "melts", "smear", "smears", "haze", "diffuse", "obscure", "kill", "wash",
                        "make", "keep", "leave", "have", "render", "put", "want", "get", "turn", "blurring",
                        "softening", "throwing", "knocking", "dropping", "leaves", "keeps", "makes", "renders"})
#: Verbs whose object is what stays in focus: "isolate the foreground", "to highlight the background".
ISOLATE_VERBS = frozenset({"isolate", "isolates", "isolating", "highlight", "highlights", "highlighting",
                           "emphasize", "emphasise", "emphasizes", "emphasises", "emphasizing", "emphasising",
                           "feature", "features", "featuring", "spotlight", "favor", "favour", "favoring",
                           "favouring", "separate", "separates", "separating", "pick", "picks"})
#: "everything except X": X is the one thing not blurred.
EXCEPT_WORDS = frozenset({"except", "but", "besides", "apart", "other", "save", "excluding", "barring", "bar"})
#: A pause between two changes ("..., hold, then ..."): no change of focus.
HOLD_WORDS = frozenset({"hold", "holds", "pause", "pauses", "wait", "waits", "linger", "lingers", "beat"})
START_WORDS = frozenset({"start", "starts", "starting", "begin", "begins", "beginning", "open", "opens",
                         "opening", "first", "initially", "originally"})
END_WORDS = frozenset({"end", "ends", "ending", "finish", "finishes", "finishing", "land", "lands", "landing",
                       "settle", "settles", "settling", "arrive", "arrives", "arriving", "conclude",
                       "concludes", "resolve", "resolves"})
QUICK_WORDS = frozenset({"quick", "quickly", "fast", "rapid", "rapidly", "snappy", "swift", "swiftly",
                         "brisk", "briskly", "speedy", "sharply", "whip"})
SLOW_WORDS = frozenset({"slow", "slowly", "gradual", "gradually", "lazy", "lazily", "leisurely", "gentle",
                        "unhurried", "languid", "languidly", "slower"})
LINEAR_WORDS = frozenset({"linear", "linearly", "evenly", "steadily", "constant", "steady", "even", "mechanically"})
EASE_WORDS = frozenset({"smooth", "smoothly", "eased", "ease", "ease-in-out", "naturally", "organically",
                        "softly", "gracefully", "fluidly"})
CUT_WORDS = frozenset({"cut", "instantly", "suddenly", "abruptly", "immediately", "instant", "snap", "snaps",
                       "snapping", "snapped", "jump", "jumps", "jumping", "jumped", "pop", "pops", "hard-cut"})

SIZE_WORDS = {
    "small": "small", "slight": "small", "subtle": "small", "light": "small", "little": "small",
    "gentle": "small", "mild": "small", "soft": "small", "minimal": "small", "tiny": "small", "low": "small",
    "touch": "small", "hint": "small", "bit": "small", "tad": "small", "smidge": "small", "dash": "small",
    "whisper": "small", "faint": "small", "delicate": "small", "less": "small", "lighter": "small",
    "minimum": "small", "min": "small", "modest": "small", "barely": "small", "weak": "small", "gentler": "small",
    "medium": "medium", "moderate": "medium", "normal": "medium", "some": "medium", "average": "medium",
    "mid": "medium", "regular": "medium", "standard": "medium", "decent": "medium", "middling": "medium",
    "large": "large", "big": "large", "heavy": "large", "strong": "large", "huge": "large", "lots": "large",
    "extreme": "large", "massive": "large", "creamy": "large", "dreamy": "large", "high": "large",
    "maximum": "large", "intense": "large", "lot": "large", "max": "large", "ton": "large", "tons": "large",
    "loads": "large", "plenty": "large", "heaps": "large", "more": "large", "stronger": "large",
    "heavier": "large", "bigger": "large", "thick": "large", "serious": "large", "dramatic": "large",
    "enormous": "large", "gorgeous": "large", "buttery": "large", "generous": "large", "pronounced": "large",
    "considerable": "large", "significant": "large", "wide-open": "large",
}
ADVERB_SIZES = {
    "heavily": "large", "strongly": "large", "massively": "large", "hard": "large", "intensely": "large",
    "much": "large", "lot": "large", "lots": "large", "more": "large", "way": "large", "dramatically": "large",
    "completely": "large", "thoroughly": "large", "significantly": "large", "aggressively": "large",
    "slightly": "small", "lightly": "small", "gently": "small", "subtly": "small", "softly": "small",
    "mildly": "small", "little": "small", "bit": "small", "less": "small", "barely": "small", "faintly": "small",
    "touch": "small", "tad": "small", "somewhat": "medium", "moderately": "medium", "medium": "medium",
    "partly": "medium", "partially": "medium",
}
BLUR_WORDS = frozenset({"blur", "blurred", "blurry", "blurring", "blurs", "bokeh", "defocus", "defocused",
                        "blurriness", "out-of-focus", "softness", "defocusing", "background-blur"})
ADD_WORDS = frozenset({"add", "adding", "adds", "introduce", "introducing", "introduces", "use", "using",
                       "apply", "applying", "give", "giving", "want", "set", "sets", "create", "creating",
                       "make", "making", "of", "get", "gets", "put", "need", "have", "having", "keep",
                       "throw", "throwing", "go", "goes", "aim", "add-in", "dial", "in", "opt", "for", "with"})
#: Blur objects that say nothing about where focus is ("blur the rest").
BLUR_REST = frozenset({"rest", "everything", "else", "it", "frame", "image", "picture", "shot", "scene",
                       "others", "other", "surroundings", "remainder"})
DOF_SIZES = {"shallow": "large", "narrow": "large", "thin": "large", "small": "large", "tight": "large",
             "shallower": "large", "razor-thin": "large", "minimal": "large",
             "medium": "medium", "moderate": "medium", "normal": "medium",
             "deep": "small", "wide": "small", "large": "small", "big": "small", "great": "small",
             "long": "small", "deeper": "small", "generous": "small", "extended": "small"}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "half": Fraction(1, 2),
                "a-half": Fraction(1, 2), "fifteen": 15, "twenty": 20, "thirty": 30}
SECOND_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "ms": Fraction(1, 1000),
                "millisecond": Fraction(1, 1000), "milliseconds": Fraction(1, 1000),
                "min": 60, "mins": 60, "minute": 60, "minutes": 60}
FRAME_UNITS = frozenset({"f", "fr", "frame", "frames"})
DEPTH_UNITS = {"m": 1, "metre": 1, "metres": 1, "meter": 1, "meters": 1, "cm": Fraction(1, 100),
               "mm": Fraction(1, 1000)}
PIXEL_UNITS = frozenset({"px", "pixel", "pixels"})
#: Soft words that also say how much: "a creamy background" is a large blur.
SOFT_SIZES = {"creamy": "large", "dreamy": "large", "melted": "large", "smeared": "large", "mushy": "large",
              "obscured": "large", "hazy": "small", "softer": "small", "diffused": "small", "muted": "small"}
#: Points of the clip in words, as fractions of it (0 = first frame, 1 = last frame).
CLIP_FRACTIONS = {"halfway": Fraction(1, 2), "half-way": Fraction(1, 2), "midway": Fraction(1, 2),
                  "mid-way": Fraction(1, 2), "midpoint": Fraction(1, 2), "mid-shot": Fraction(1, 2),
                  "mid-clip": Fraction(1, 2)}
PART_FRACTIONS = {"quarter": Fraction(1, 4), "third": Fraction(1, 3), "half": Fraction(1, 2),
                  "two-thirds": Fraction(2, 3), "three-quarters": Fraction(3, 4)}
CLIP_WORDS = frozenset({"clip", "shot", "take", "scene", "sequence", "video", "footage"})
WHOLE_WORDS = frozenset({"whole", "entire", "full", "complete"})
#: Words that name a subject's size or spread but no depth: refused as targets without a detector.
SUBJECT_STOP = frozenset({
    "to", "towards", "toward", "into", "onto", "from", "at", "by", "over", "for", "between", "until", "till",
    "after", "starting", "beginning", "lasting", "during", "within", "then", "and", "but", "while", "out",
    "not", "rather", "instead", "is", "are", "stays", "stay", "remains", "remain", "should", "must", "be",
    "will", "gets", "becomes", "looks", "halfway", "midway", "throughout", "across", "before", "when",
    "as", "than", "so", "if", "it", "its", "it's", "this", "that", "there", "here", "where", "what",
    "fall", "falls", "goes", "melt", "melts", "fade", "fades", "looks", "look", "remains", "stay", "becomes",
})
