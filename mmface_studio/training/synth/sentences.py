"""The corpus's sentence pool: a few hundred varied English sentences made from our own templates.

Why templates: a pool written here owes nothing to any corpus, is the same on every machine and
for every seed (so held-out sentences stay held out across corpora), and can be made as rich in
lip-visible sounds (/p b m f v w/ and rounded vowels) as lip-sync training needs. The templates
cover statements, questions, exclamations, lists and reported speech, 4 to 20 words.

A sentence's split is a hash of its text (about 12% test, 8% validation), so it never depends on
which other sentences exist.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

POOL_SIZE = 480
_POOL_SEED = 7_202_611

_NAMES = ("Maya", "Peter", "Bob", "Fiona", "Marcus", "Beth", "Will", "Paula", "Tom", "Amira", "Victor", "June",
          "Mo", "Olivia", "Ben", "Wendy", "Sam", "Priya", "Felix", "Rosa")
_PLACES = ("the market", "the museum", "the harbour", "the bakery", "the library", "the park", "the station",
           "the beach", "the old bridge", "the village", "the office", "the post office", "the top floor",
           "the workshop", "the mountain pass", "the farm")
_THINGS = ("a blue umbrella", "the map", "a box of apples", "my purple bike", "the piano", "a warm blanket",
           "the broken phone", "a bowl of soup", "the movie tickets", "a paper boat", "the big brown bag",
           "a bottle of water", "the photo album", "some fresh bread", "a pair of boots", "the wooden spoon")
_TIMES = ("this morning", "every Monday", "before breakfast", "last November", "by five o'clock", "tomorrow",
          "after the storm", "in the evening", "on Friday", "some time ago", "at midnight", "all week")
_VERBS_PAST = ("found", "bought", "borrowed", "moved", "fixed", "painted", "brought", "forgot", "packed", "wrapped",
               "dropped", "opened", "shipped", "swapped", "weighed", "polished")
_FEELINGS = ("happy", "puzzled", "furious", "miserable", "amazed", "worried", "proud", "bored", "frightened",
             "relieved", "embarrassed", "hopeful")
_ADJ = ("wonderful", "awful", "beautiful", "bumpy", "peaceful", "brave", "simple", "pleasant", "impossible",
        "remarkable", "mysterious", "smooth", "powerful", "warm", "very funny", "pretty boring")
_ACTIVITIES = ("playing the violin", "baking muffins", "swimming in the lake", "moving boxes", "painting the fence",
               "watching old movies", "fixing the roof", "walking the puppy", "picking berries",
               "building a model boat", "preparing for the exam", "mopping the floor")
_WEATHER = ("bright and warm", "windy and damp", "foggy", "pouring with rain", "perfectly calm", "bitterly cold",
            "muggy", "snowing heavily")

_TEMPLATES: tuple[str, ...] = (
    "{name} {verb} {thing} at {place} {time}.",
    "Have you seen {thing} anywhere near {place}?",
    "I think {name} was {feeling} when the parcel arrived {time}.",
    "Please bring {thing} to {place} {time}.",
    "The weather was {weather} when we reached {place}.",
    "{name} spent the whole afternoon {activity}.",
    "What a {adj} day we had at {place}!",
    "Maybe {name} and {name2} will meet us at {place} {time}.",
    "My brother says the view from {place} is {adj}.",
    "Why did {name} leave {thing} by the window?",
    "We were {activity} {time}, and it was {adj}.",
    "{name} told me that {name2} {verb} {thing}.",
    "Remember to pack {thing}, {thing2} and a map.",
    "It is {weather} today, so we might stay at home.",
    "Every summer, my parents go {activity2} near {place}.",
    "Could you possibly move {thing} before {time2}?",
    "Oh no, {name} {verb} {thing} again!",
    "The people at {place} were {feeling} about the news.",
    "If the bus is late, we will walk to {place}.",
    "Nobody believed that {name} could be so {feeling}.",
    "{name} whispered, \"{thing_cap} belongs to me.\"",
    "Put {thing} back on the shelf, please.",
    "When {name} finally opened the door, {name2} was {activity}, and nobody said a word for a minute.",
    "Before we went to {place}, {name} made a list, but of course we forgot {thing} anyway.",
    "By the time we got to {place}, the band had stopped playing.",
    "I promise we will be {activity} {time}.",
)
_DEADLINES = ("noon", "the weekend", "Tuesday", "lunch", "dark", "the guests arrive", "the shop closes")
_ACTIVITY_GO = ("swimming", "fishing", "camping", "hiking", "shopping", "bird watching", "sailing", "walking")


@dataclass(frozen=True)
class Sentence:
    id: str
    text: str
    split: str


def text_split(text: str) -> str:
    """train / val / test from a stable hash of the text (12% test, 8% validation)."""
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % 100
    return "test" if h < 12 else "val" if h < 20 else "train"


def _fill(template: str, rng: np.random.Generator) -> str:
    names = rng.choice(len(_NAMES), 2, replace=False)
    things = rng.choice(len(_THINGS), 2, replace=False)
    thing = _THINGS[things[0]]
    slots = {
        "name": _NAMES[names[0]], "name2": _NAMES[names[1]], "thing": thing, "thing2": _THINGS[things[1]],
        "thing_cap": thing[0].upper() + thing[1:], "place": str(rng.choice(_PLACES)), "time": str(rng.choice(_TIMES)),
        "time2": str(rng.choice(_DEADLINES)), "verb": str(rng.choice(_VERBS_PAST)),
        "feeling": str(rng.choice(_FEELINGS)), "adj": str(rng.choice(_ADJ)), "activity": str(rng.choice(_ACTIVITIES)),
        "activity2": str(rng.choice(_ACTIVITY_GO)), "weather": str(rng.choice(_WEATHER)),
    }
    text = template.format(**slots)
    return text[0].upper() + text[1:]


@functools.lru_cache(maxsize=1)
def sentence_pool() -> tuple[Sentence, ...]:
    """The fixed pool (same on every machine): ``POOL_SIZE`` unique sentences with ids s000..."""
    rng = np.random.default_rng(_POOL_SEED)
    seen: dict[str, None] = {}
    while len(seen) < POOL_SIZE:
        template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
        seen.setdefault(_fill(template, rng), None)
    return tuple(Sentence(f"s{i:03d}", text, text_split(text)) for i, text in enumerate(seen))


def sentences_in(split: str) -> tuple[Sentence, ...]:
    return tuple(s for s in sentence_pool() if s.split == split)
