"""Transcript normalisation and pronunciations for the phonetic track.

Users type transcripts the way people write ("Mr. Smith paid $5 on the 3rd, well-known fact!"), but
the aligner needs lower-case dictionary words in spoken order. This module turns text into such
words and finds a pronunciation for every one of them: the packaged CMU dictionary first, then
cheap decompositions (hyphens, possessives, compounds of two dictionary words), and last a small
letter-to-sound rule set. The rules are deliberately simple: a wrong vowel costs a little mouth
shape accuracy, while refusing the word would cost the whole alignment.

Pure Python, no pocketsphinx import: the dictionary is passed in as a lookup function so that the
decoder layer owns the one loaded copy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: Looks a word up in the pronunciation dictionary: space-separated ARPAbet phones, or None.
Lookup = Callable[[str], "str | None"]

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_SYMBOLS = {"&": "and", "%": "percent", "+": "plus", "=": "equals", "@": "at", "#": "number"}
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}


def number_to_words(n: int) -> list[str]:
    """Cardinal number in words ("121" -> one hundred twenty one); negative numbers get "minus"."""
    if n < 0:
        return ["minus", *number_to_words(-n)]
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [_TENS[tens]] + ([_ONES[ones]] if ones else [])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return [_ONES[hundreds], "hundred"] + (number_to_words(rest) if rest else [])
    for scale, name in _SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return [*number_to_words(head), name] + (number_to_words(rest) if rest else [])
    raise AssertionError("unreachable")


def year_to_words(n: int) -> list[str]:
    """Years are read in pairs ("1984" -> nineteen eighty four), except 2000-2009."""
    if 2000 <= n <= 2009 or n % 1000 == 0:
        return number_to_words(n)
    head, tail = divmod(n, 100)
    if tail == 0:
        return [*number_to_words(head), "hundred"]
    if tail < 10:
        return [*number_to_words(head), "oh", _ONES[tail]]
    return number_to_words(head) + number_to_words(tail)


def ordinal_to_words(n: int) -> list[str]:
    """Ordinal in words ("21st" -> twenty first)."""
    words = number_to_words(n)
    last = words[-1]
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return [*words[:-1], last]


def _digits_to_words(token: str) -> list[str]:
    """Words for a numeric token: ordinals, years, decimals, digit groups with commas."""
    m = re.fullmatch(r"(\d+)(st|nd|rd|th)", token)
    if m:
        return ordinal_to_words(int(m.group(1)))
    m = re.fullmatch(r"(\d+)\.(\d+)", token)
    if m:
        return [*_digits_to_words(m.group(1)), "point", *(_ONES[int(d)] for d in m.group(2))]
    plain = token.replace(",", "")
    if not plain.isdigit():
        return []
    if len(plain) > 1 and plain.startswith("0"):
        return [_ONES[int(d)] for d in plain]  # phone numbers, codes: digit by digit
    n = int(plain)
    if len(plain) == 4 and 1100 <= n <= 2099 and "," not in token:
        return year_to_words(n)
    if n >= 10**15:
        return [_ONES[int(d)] for d in plain]
    return number_to_words(n)


def _amount_to_words(token: str) -> list[str]:
    """Numbers with an optional currency sign or percent: "$5.50" -> five dollars fifty."""
    currency = _CURRENCY.get(token[0])
    body = token.lstrip("$£€")
    percent = body.endswith("%")
    body = body.rstrip("%")
    whole, _, cents = body.partition(".")
    if currency and len(cents) == 2:
        cents_words = number_to_words(int(cents)) if int(cents) else []
        return _digits_to_words(whole) + [currency] + cents_words
    spoken = _digits_to_words(body)
    if not spoken:
        return []
    return spoken + (["percent"] if percent else []) + ([currency] if currency else [])


_TOKEN_RE = re.compile(r"[$£€]?\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th)?%?|[\w'’.-]+|[&%+=@#]", re.UNICODE)


def normalise_transcript(text: str, lookup: Lookup | None = None) -> list[str]:
    """Spoken-order lower-case words for ``text``.

    Numbers become words, symbols that are spoken (``&``, ``%``) become words, other punctuation
    goes. Hyphenated and dotted forms are kept when the dictionary knows them ("x-ray", "mr.") and
    split otherwise, which is why the lookup is passed in.
    """
    words: list[str] = []
    for raw in _TOKEN_RE.findall(text.replace("’", "'")):
        token = raw.lower()
        if token in _SYMBOLS:
            words.append(_SYMBOLS[token])
            continue
        if token[0] in _CURRENCY or token[0].isdigit():
            spoken = _amount_to_words(token)
            if spoken:
                words.extend(spoken)
                continue
        words.extend(_split_token(token, lookup))
    return words


def _split_token(token: str, lookup: Lookup | None) -> list[str]:
    """Strip quotes/dots around a word; split on hyphens/dots unless the dictionary knows the form."""
    token = token.strip("'")
    if not token:
        return []
    if lookup is not None and lookup(token) is not None:
        return [token]
    token = token.strip(".-'_")
    if not token:
        return []
    if lookup is not None and lookup(token) is not None:
        return [token]
    parts = [p.strip("'") for p in re.split(r"[-._]+", token)]
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        if part.isdigit():
            out.extend(_digits_to_words(part))
        else:
            out.append(part)
    return out


@dataclass(frozen=True)
class Pronunciation:
    """How one transcript word will be pronounced, and where that came from (for reporting)."""

    word: str
    phones: str
    source: str  # "dictionary" | "possessive" | "compound" | "letter-to-sound"


def pronounce(word: str, lookup: Lookup) -> Pronunciation:
    """Pronunciation for ``word``: dictionary, then possessive/compound, then letter-to-sound rules."""
    phones = lookup(word)
    if phones is not None:
        return Pronunciation(word, phones, "dictionary")
    for suffix in ("'s", "s'", "'"):
        if word.endswith(suffix) and len(word) > len(suffix):
            base = lookup(word[: -len(suffix)])
            if base is not None:
                return Pronunciation(word, base + _plural_ending(base, suffix), "possessive")
    for cut in range(len(word) - 2, 1, -1):  # longest first part first
        head, tail = lookup(word[:cut]), lookup(word[cut:])
        if head is not None and tail is not None:
            return Pronunciation(word, f"{head} {tail}", "compound")
    return Pronunciation(word, letter_to_sound(word), "letter-to-sound")


def _plural_ending(base_phones: str, suffix: str) -> str:
    """The sound of a possessive/plural ending after ``base_phones`` (cat's /S/, dog's /Z/, bus's /IH Z/)."""
    last = base_phones.split()[-1]
    if suffix == "'":
        return ""
    if last in {"S", "Z", "SH", "ZH", "CH", "JH"}:
        return " IH Z"
    if last in {"P", "T", "K", "F", "TH"}:
        return " S"
    return " Z"


#: Letter-to-sound rules, one per line: letters, right context (a regex matched after them, "-" for
#: none), phones ("-" for silent). At each position the longest matching letters win; rules with
#: the same letters are tried in order. Kept small on purpose; see the module docstring.
_LTS_TABLE = """
    tion  -              SH AH N
    sion  -              ZH AH N
    ough  -              AO
    augh  -              AO
    igh   -              AY
    tch   -              CH
    dge   -              JH
    sch   -              S K
    ch    -              CH
    sh    -              SH
    th    -              TH
    ph    -              F
    wh    -              W
    ck    -              K
    ng    -              NG
    qu    -              K W
    kn    -              N
    wr    -              R
    ee    -              IY
    ea    -              IY
    oo    -              UW
    ai    -              EY
    ay    -              EY
    ei    -              EY
    ey    -              EY
    oa    -              OW
    ou    -              AW
    ow    -              OW
    oi    -              OY
    oy    -              OY
    au    -              AO
    aw    -              AO
    ew    -              UW
    ie    $              IY
    ar    -              AA R
    er    -              ER
    ir    -              ER
    ur    -              ER
    or    -              AO R
    ce    $              S
    ge    $              JH
    c     [eiy]          S
    g     [eiy]          JH
    y     $              IY
    x     -              K S
    a     [^aeiouy][e]$  EY
    i     [^aeiouy][e]$  AY
    o     [^aeiouy][e]$  OW
    u     [^aeiouy][e]$  UW
    e     $              -
    a     -              AE
    e     -              EH
    i     -              IH
    o     -              AA
    u     -              AH
    y     -              IH
    b     -              B
    c     -              K
    d     -              D
    f     -              F
    g     -              G
    h     -              HH
    j     -              JH
    k     -              K
    l     -              L
    m     -              M
    n     -              N
    p     -              P
    q     -              K
    r     -              R
    s     -              S
    t     -              T
    v     -              V
    w     -              W
    z     -              Z
"""


_LTS_BY_FIRST: dict[str, list[tuple[str, re.Pattern[str] | None, str]]] = {}
for _letters, _ctx, _phones in sorted(
    (line.split(None, 2) for line in _LTS_TABLE.strip().splitlines()), key=lambda rule: -len(rule[0])
):
    _LTS_BY_FIRST.setdefault(_letters[0], []).append(
        (_letters, None if _ctx == "-" else re.compile(_ctx), "" if _phones == "-" else _phones)
    )


def letter_to_sound(word: str) -> str:
    """ARPAbet guess for a word the dictionary lacks; letters with no rule (digits, accents) are skipped.

    Single-letter words and all-consonant acronyms are spelled out ("tv" -> T IY V IY), because
    that is how people say them.
    """
    letters = "".join(ch for ch in word.lower() if "a" <= ch <= "z")
    if not letters:
        return "AH"
    if len(letters) == 1 or not re.search(r"[aeiouy]", letters):
        return " ".join(_LETTER_NAMES[ch] for ch in letters)
    phones: list[str] = []
    i = 0
    while i < len(letters):
        for chunk, ctx, out in _LTS_BY_FIRST.get(letters[i], []):
            if not letters.startswith(chunk, i):
                continue
            if ctx is not None and not ctx.match(letters, i + len(chunk)):
                continue
            if out:
                phones.extend(out.split())
            i += len(chunk)
            break
        else:
            i += 1
    # collapse doubled consonants ("ll" -> L), which the rules emit twice
    collapsed = [p for k, p in enumerate(phones) if k == 0 or p != phones[k - 1]]
    return " ".join(collapsed) or "AH"


_LETTER_NAMES = dict(
    zip(
        "abcdefghijklmnopqrstuvwxyz",
        "EY|B IY|S IY|D IY|IY|EH F|JH IY|EY CH|AY|JH EY|K EY|EH L|EH M|EH N|OW|P IY|K Y UW|AA R|EH S|T IY|Y UW|V IY|"
        "D AH B AH L Y UW|EH K S|W AY|Z IY".split("|"),
        strict=True,
    )
)
