"""Multi-hop questions over a generated fictional world, in the shape of MuSiQue.

Every example gets its own small world of made-up people, places, works and organisations, so
no answer can come from a model's memory: it must be read from the context paragraphs. A
question composes 2-4 single-hop relations ("Where was the author of 'The Glass River'
born?"); each hop's answer is an intermediate ground truth and the last hop's is the final
answer. The paragraphs state each single-hop fact once, next to distractor paragraphs that use
the same relations with other entities.

Phrasing varies the way users' questions do: every relation has several question, noun-phrase
and fact-sentence templates, and a question is composed by one of several frames (nested noun
phrases, "Think about X. Where was that person born?", "I'm trying to figure out ...", ...).
The templates come in disjoint pools: "seen" (used for training), "extra" (further wordings
that training may add: phrasing "wide" draws an item's pool from seen and extra) and "unseen"
(kept out of training, to measure whether a model learned the task or the template). The pool
never decides the split: that stays the canonical (nested, seen-style) question's hash, and the
phrasing is drawn from its own random stream, so a seed yields the same logical items in every
pool.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tasks.example import Example, content_id
from tasks.multihop_relations import BANK, BANK_NO_FOLLOW, BANK_REFERENTS
from tasks.splits import Candidate, draw_distinct

MIN_HOPS, MAX_HOPS = 2, 4

_ONSETS = (
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "dr",
    "gr",
    "kr",
    "tr",
    "th",
    "st",
    "sh",
    "el",
    "or",
    "al",
    "is",
)
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ia", "ae")
_CODAS = ("", "", "n", "r", "l", "s", "th", "m", "nd", "rk")
_CITY_SUFFIXES = ("", "", "burg", "ford", "haven", "mere", "port", "stead", "wick", "dale")
_COUNTRY_SUFFIXES = ("ia", "land", "ora", "mark", "eria")
_ORG_KINDS = ("Industries", "Works", "Group", "Labs", "Company", "Holdings", "Foundry")
_UNI_KINDS = ("University", "College", "Institute of Technology", "Academy")
_ADJECTIVES = (
    "Glass",
    "Silent",
    "Crimson",
    "Hollow",
    "Golden",
    "Forgotten",
    "Iron",
    "Pale",
    "Wandering",
    "Broken",
    "Hidden",
    "Velvet",
    "Burning",
    "Distant",
    "Frozen",
    "Quiet",
    "Scarlet",
    "Winter",
    "Last",
    "Amber",
)
_NOUNS = (
    "River",
    "Lantern",
    "Orchard",
    "Harbor",
    "Mirror",
    "Garden",
    "Tower",
    "Season",
    "Compass",
    "Meadow",
    "Archive",
    "Crown",
    "Shore",
    "Clockmaker",
    "Voyage",
    "Bridge",
    "Letter",
    "Island",
    "Violin",
    "Sparrow",
)
_PROFESSIONS = (
    "painter",
    "chemist",
    "sailor",
    "architect",
    "poet",
    "judge",
    "engineer",
    "historian",
    "physician",
    "merchant",
)
_LANGUAGES = ("Veshan", "Oldric", "Talmese", "Corvic", "Elunian")
_TEAM_KINDS = ("Rovers", "United", "Athletic", "Wanderers", "Rangers")
_BUILDING_KINDS = ("Hall", "Tower", "House", "Library", "Pavilion")


class _Names:
    """Made-up names, unique within one example's world."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _word(self, syllables: int) -> str:
        rng = self.rng
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
        return (word + rng.choice(_CODAS)).capitalize()

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("name space exhausted")

    def make(self, kind: str) -> str:
        rng = self.rng
        makers = {
            "person": lambda: f"{self._word(rng.randint(1, 2))} {self._word(rng.randint(2, 3))}",
            "city": lambda: self._word(rng.randint(1, 2)) + rng.choice(_CITY_SUFFIXES),
            "country": lambda: (
                self._word(rng.randint(1, 2)).rstrip("aeiou") + rng.choice(_COUNTRY_SUFFIXES)
            ),
            "work": lambda: f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
            "org": lambda: f"{self._word(2)} {rng.choice(_ORG_KINDS)}",
            "university": lambda: f"{self._word(2)} {rng.choice(_UNI_KINDS)}",
            # The kinds only the wider relation bank uses (tasks.multihop_relations).
            "team": lambda: f"{self._word(2)} {rng.choice(_TEAM_KINDS)}",
            "band": lambda: f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}s",
            "building": lambda: f"{self._word(2)} {rng.choice(_BUILDING_KINDS)}",
            "pet": lambda: self._word(rng.randint(1, 2)),
        }
        return self._unique(makers[kind])


@dataclass(frozen=True)
class Relation:
    name: str
    subject: str  # entity kind
    object: str
    noun_phrase: str  # "{x}" is the subject as a noun phrase
    question: str  # a wh-question about the subject
    fact: str  # "{s}" subject, "{o}" object


RELATIONS: tuple[Relation, ...] = (
    Relation(
        "author_of",
        "work",
        "person",
        "the author of {x}",
        "Who wrote {x}?",
        "{s} is a novel written by {o}.",
    ),
    Relation(
        "director_of",
        "work",
        "person",
        "the director of {x}",
        "Who directed {x}?",
        "{s} is a film directed by {o}.",
    ),
    Relation(
        "born_in",
        "person",
        "city",
        "the birthplace of {x}",
        "Where was {x} born?",
        "{s} was born in {o}.",
    ),
    Relation(
        "located_in",
        "city",
        "country",
        "the country where {x} is located",
        "In which country is {x} located?",
        "{s} is a city in {o}.",
    ),
    Relation(
        "capital_of",
        "country",
        "city",
        "the capital of {x}",
        "What is the capital of {x}?",
        "The capital of {s} is {o}.",
    ),
    Relation(
        "spouse_of",
        "person",
        "person",
        "the spouse of {x}",
        "Who is the spouse of {x}?",
        "{s} is married to {o}.",
    ),
    Relation(
        "founded_by",
        "org",
        "person",
        "the founder of {x}",
        "Who founded {x}?",
        "{s} was founded by {o}.",
    ),
    Relation(
        "headquartered_in",
        "org",
        "city",
        "the city where {x} is headquartered",
        "In which city is {x} headquartered?",
        "{s} is headquartered in {o}.",
    ),
    Relation(
        "employer_of",
        "person",
        "org",
        "the employer of {x}",
        "Which company does {x} work for?",
        "{s} works for {o}.",
    ),
    Relation(
        "educated_at",
        "person",
        "university",
        "the university {x} attended",
        "Which university did {x} attend?",
        "{s} studied at {o}.",
    ),
    Relation(
        "university_in",
        "university",
        "city",
        "the city where {x} is located",
        "In which city is {x} located?",
        "{s} is located in {o}.",
    ),
    Relation(
        "mayor_of",
        "city",
        "person",
        "the mayor of {x}",
        "Who is the mayor of {x}?",
        "The mayor of {s} is {o}.",
    ),
)

# The wider bank, for training only (`relations="wide"`); its first noun phrase, question and
# fact are the canonical ones, as RELATIONS' are.
BANK_RELATIONS: tuple[Relation, ...] = tuple(
    Relation(name, subj, obj, nps[0], qs[0], facts[0])
    for name, (subj, obj, nps, qs, _, facts) in BANK.items()
)
RELATION_SETS: dict[str, tuple[Relation, ...]] = {
    "core": RELATIONS,
    "wide": RELATIONS + BANK_RELATIONS,
}

# Pairs whose second hop is already implied by the first, so a fresh entity would contradict
# the world: A's spouse's spouse is A; the capital of X lies in X.
_NO_FOLLOW: frozenset[tuple[str, str]] = (
    frozenset({("spouse_of", "spouse_of"), ("capital_of", "located_in")}) | BANK_NO_FOLLOW
)


PHRASINGS: tuple[str, ...] = ("seen", "unseen", "any", "extra", "wide")
# How a trace restates each hop: "nested" builds the whole chain's phrase from the canonical
# relation names ("So the birthplace of the mayor of Drothburg is ..."); "local" names only the
# hop just taken, about the entity in hand, in the question's own wording ("So the mayor of
# Drothburg is ...").
TRACES: tuple[str, ...] = ("nested", "local")
# "any" draws an item's pool from these two; "wide" from the two training may see.
POOLS: tuple[str, ...] = ("seen", "unseen")
TRAINING_POOLS: tuple[str, ...] = ("seen", "extra")
ALL_POOLS: tuple[str, ...] = ("seen", "unseen", "extra")


@dataclass(frozen=True)
class Wording:
    """One pool's templates for one relation ("{x}": subject phrase; "{s}"/"{o}": entities)."""

    noun_phrases: tuple[str, ...]  # "the mayor of {x}"
    questions: tuple[str, ...]  # "Who is the mayor of {x}?"
    indirect: tuple[str, ...]  # "who the mayor of {x} is" (inside a longer sentence)
    facts: tuple[str, ...]  # "The mayor of {s} is {o}."


def _w(
    np: tuple[str, ...], q: tuple[str, ...], ind: tuple[str, ...], fact: tuple[str, ...]
) -> Wording:
    return Wording(np, q, ind, fact)


# Seen and unseen pools share no template. A "{x}'s" template is used only where {x} is a bare
# name or a short referent, never a nested phrase ("the capital of the country ...'s mayor").
WORDINGS: dict[str, dict[str, Wording]] = {
    "author_of": {
        "seen": _w(
            ("the author of {x}", "the writer of {x}", "the person who wrote {x}"),
            ("Who wrote {x}?", "Who is the author of {x}?", "Who was {x} written by?"),
            ("who wrote {x}", "who the author of {x} is"),
            (
                "{s} is a novel written by {o}.",
                "{o} wrote the novel {s}.",
                "The novel {s} was written by {o}.",
            ),
        ),
        "unseen": _w(
            ("the novelist behind {x}", "the person who penned {x}"),
            ("By whom was {x} penned?", "Which novelist penned {x}?"),
            ("who penned {x}",),
            ("{o} is the author of the novel {s}.", "{s} was penned by the novelist {o}."),
        ),
        "extra": _w(
            ("the novelist who wrote {x}", "the writer behind {x}"),
            ("Who is the novelist that wrote {x}?", "Whose novel is {x}?"),
            ("who the novelist behind {x} was",),
            ("{o} is the writer of {s}.", "{s} is by the novelist {o}."),
        ),
    },
    "director_of": {
        "seen": _w(
            ("the director of {x}", "the person who directed {x}", "the filmmaker who made {x}"),
            ("Who directed {x}?", "Who is the director of {x}?", "Which filmmaker directed {x}?"),
            ("who directed {x}", "who the director of {x} is"),
            (
                "{s} is a film directed by {o}.",
                "{o} directed the film {s}.",
                "The film {s} was directed by {o}.",
            ),
        ),
        "unseen": _w(
            ("the filmmaker behind {x}", "the person who helmed {x}"),
            ("By whom was {x} helmed?", "Who helmed the film {x}?"),
            ("who helmed {x}",),
            ("{o} is the director of the film {s}.", "{s} was helmed by the filmmaker {o}."),
        ),
        "extra": _w(
            ("the person behind the camera for {x}", "the film director of {x}"),
            ("Who made the film {x}?", "Whose film is {x}?"),
            ("who made the film {x}",),
            ("{o} made the film {s}.", "{s} is a movie by {o}."),
        ),
    },
    "born_in": {
        "seen": _w(
            ("the birthplace of {x}", "{x}'s birthplace", "the city where {x} was born"),
            (
                "Where was {x} born?",
                "In which city was {x} born?",
                "What is the birthplace of {x}?",
            ),
            ("where {x} was born", "in which city {x} was born"),
            ("{s} was born in {o}.", "{o} is the birthplace of {s}.", "{s} is a native of {o}."),
        ),
        "unseen": _w(
            ("the native city of {x}", "{x}'s city of birth"),
            ("What city was {x} born in?", "Where did {x} come into the world?"),
            ("what city {x} was born in",),
            ("{s} came into the world in {o}.", "The city of {o} is where {s} was born."),
        ),
        "extra": _w(
            ("the hometown of {x}", "the place of birth of {x}"),
            ("What is the hometown of {x}?", "Which city is {x} originally from?"),
            ("which city {x} is originally from",),
            ("{s} is originally from {o}.", "{s} grew up in {o}, the city of their birth."),
        ),
    },
    "located_in": {
        "seen": _w(
            (
                "the country where {x} is located",
                "the country that {x} is in",
                "the country containing {x}",
            ),
            (
                "In which country is {x} located?",
                "Which country is {x} in?",
                "What country contains {x}?",
            ),
            ("which country {x} is in", "in which country {x} is located"),
            (
                "{s} is a city in {o}.",
                "{s} is a city located in {o}.",
                "{o} is the country where {s} is located.",
            ),
        ),
        "unseen": _w(
            ("the nation that {x} belongs to", "the country {x} lies in"),
            ("{x} lies in which country?", "To which nation does {x} belong?"),
            ("what nation {x} belongs to",),
            ("The city of {s} lies within {o}.", "{s} belongs to the nation of {o}."),
        ),
        "extra": _w(
            ("the country {x} is part of", "the country in which {x} lies"),
            ("{x} is part of which country?", "Which country is {x} part of?"),
            ("which country {x} is part of",),
            ("{s} is part of {o}.", "{s} is one of the cities of {o}."),
        ),
    },
    "capital_of": {
        "seen": _w(
            ("the capital of {x}", "{x}'s capital", "the capital city of {x}"),
            (
                "What is the capital of {x}?",
                "Which city is the capital of {x}?",
                "What is {x}'s capital?",
            ),
            ("what the capital of {x} is", "which city is the capital of {x}"),
            (
                "The capital of {s} is {o}.",
                "{o} serves as {s}'s capital.",
                "{s}'s capital city is {o}.",
            ),
        ),
        "unseen": _w(
            ("the seat of government of {x}", "{x}'s seat of government"),
            ("From which city is {x} governed?", "What city is the seat of government of {x}?"),
            ("which city {x} is governed from",),
            ("{o} is the capital of {s}.", "The seat of government of {s} is in {o}."),
        ),
        "extra": _w(
            ("the capital city that {x} has", "the city serving as capital of {x}"),
            ("Name the capital city of {x}?", "Which city serves as the capital of {x}?"),
            ("which city serves as the capital of {x}",),
            ("{o} is the capital city of {s}.", "The capital city of {s} is {o}."),
        ),
    },
    "spouse_of": {
        "seen": _w(
            ("the spouse of {x}", "{x}'s spouse", "the person married to {x}"),
            ("Who is the spouse of {x}?", "Who is {x} married to?", "Whom did {x} marry?"),
            ("who {x} is married to", "who the spouse of {x} is"),
            ("{s} is married to {o}.", "{s}'s spouse is {o}.", "{s} and {o} are married."),
        ),
        "unseen": _w(
            ("the husband or wife of {x}", "{x}'s partner in marriage"),
            ("Who is the husband or wife of {x}?", "{x} is wed to whom?"),
            ("whom {x} is wed to",),
            ("{s} is wed to {o}.", "{s} tied the knot with {o}."),
        ),
        "extra": _w(
            ("the person {x} married", "the partner {x} is married to"),
            ("Who did {x} marry?", "To whom is {x} married?"),
            ("whom {x} married",),
            ("{s} married {o}.", "{o} is the spouse of {s}."),
        ),
    },
    "founded_by": {
        "seen": _w(
            ("the founder of {x}", "the person who founded {x}", "the creator of {x}"),
            ("Who founded {x}?", "Who is the founder of {x}?", "Who created {x}?"),
            ("who founded {x}", "who the founder of {x} is"),
            ("{s} was founded by {o}.", "{o} founded {s}.", "The founder of {s} is {o}."),
        ),
        "unseen": _w(
            ("the person who started {x}", "the one who set up {x}"),
            ("Who started {x}?", "Who set up {x}?"),
            ("who started {x}",),
            ("{o} started the company {s}.", "{s} was set up by {o}."),
        ),
        "extra": _w(
            ("the person who established {x}", "the founder who created {x}"),
            ("Who established {x}?", "By whom was {x} founded?"),
            ("who established {x}",),
            ("{s} was established by {o}.", "{o} is the founder of {s}."),
        ),
    },
    "headquartered_in": {
        "seen": _w(
            (
                "the city where {x} is headquartered",
                "the headquarters city of {x}",
                "the city that hosts the headquarters of {x}",
            ),
            (
                "In which city is {x} headquartered?",
                "Where is {x} headquartered?",
                "Which city hosts the headquarters of {x}?",
            ),
            ("where {x} is headquartered", "which city {x} is headquartered in"),
            (
                "{s} is headquartered in {o}.",
                "The headquarters of {s} are in {o}.",
                "{s} has its headquarters in {o}.",
            ),
        ),
        "unseen": _w(
            ("the city {x} is based in", "the city housing the head office of {x}"),
            ("Where is {x} based?", "In what city does {x} have its head office?"),
            ("where {x} is based",),
            ("{s} is based in {o}.", "The head office of {s} sits in {o}."),
        ),
        "extra": _w(
            ("the location of the headquarters of {x}", "the home city of {x}"),
            ("What city is {x} headquartered in?", "Where are the headquarters of {x}?"),
            ("what city {x} is headquartered in",),
            ("{s} keeps its headquarters in {o}.", "{o} is where {s} has its headquarters."),
        ),
    },
    "employer_of": {
        "seen": _w(
            ("the employer of {x}", "{x}'s employer", "the company {x} works for"),
            (
                "Which company does {x} work for?",
                "Who employs {x}?",
                "What is the employer of {x}?",
            ),
            ("which company {x} works for", "who employs {x}"),
            ("{s} works for {o}.", "{s} is employed by {o}.", "{o} employs {s}."),
        ),
        "unseen": _w(
            ("the firm that employs {x}", "the organisation that {x} has a job at"),
            ("At which firm does {x} have a job?", "What firm is {x} on the payroll of?"),
            ("what firm {x} has a job at",),
            ("{s} has a job at {o}.", "{o} is the firm where {s} has a job."),
        ),
        "extra": _w(
            ("the company that employs {x}", "the workplace of {x}"),
            ("Where does {x} work?", "For which company does {x} work?"),
            ("where {x} works",),
            ("{s} is an employee of {o}.", "{o} is the employer of {s}."),
        ),
    },
    "educated_at": {
        "seen": _w(
            ("the university {x} attended", "{x}'s alma mater", "the school where {x} studied"),
            (
                "Which university did {x} attend?",
                "Where did {x} study?",
                "What is the alma mater of {x}?",
            ),
            ("which university {x} attended", "where {x} studied"),
            ("{s} studied at {o}.", "{s} is a graduate of {o}.", "{s} attended {o}."),
        ),
        "unseen": _w(
            ("the institution that educated {x}", "the place {x} was educated"),
            ("At which institution was {x} educated?", "Where did {x} go to university?"),
            ("where {x} was educated",),
            ("{s} was educated at {o}.", "{o} is where {s} earned a degree."),
        ),
        "extra": _w(
            ("the university where {x} studied", "the school {x} graduated from"),
            ("Which university did {x} graduate from?", "Where was {x} a student?"),
            ("which university {x} graduated from",),
            ("{s} graduated from {o}.", "{o} is the alma mater of {s}."),
        ),
    },
    "university_in": {
        "seen": _w(
            ("the city where {x} is located", "the city that is home to {x}", "the city {x} is in"),
            (
                "In which city is {x} located?",
                "Which city is {x} in?",
                "Which city is home to {x}?",
            ),
            ("which city {x} is in", "where {x} is located"),
            ("{s} is located in {o}.", "{o} is home to {s}.", "The campus of {s} is in {o}."),
        ),
        "unseen": _w(
            ("the city hosting {x}", "the town {x} calls home"),
            ("What city hosts {x}?", "{x} can be found in which city?"),
            ("what city hosts {x}",),
            ("{s} sits in the city of {o}.", "{s} can be found in {o}."),
        ),
        "extra": _w(
            ("the city in which {x} stands", "the home city of the university {x}"),
            ("Where is {x}?", "In what city is {x}?"),
            ("in what city {x} is",),
            ("{s} stands in the city of {o}.", "{o} is the city where {s} is located."),
        ),
    },
    "mayor_of": {
        "seen": _w(
            ("the mayor of {x}", "{x}'s mayor", "the person who is mayor of {x}"),
            ("Who is the mayor of {x}?", "Who is {x}'s mayor?", "Who serves as mayor of {x}?"),
            ("who the mayor of {x} is", "who serves as mayor of {x}"),
            ("The mayor of {s} is {o}.", "{o} is the mayor of {s}.", "{o} serves as mayor of {s}."),
        ),
        "unseen": _w(
            ("the current mayor of {x}", "the person holding the office of mayor in {x}"),
            ("Who holds the office of mayor in {x}?", "Who currently leads {x} as mayor?"),
            ("who holds the office of mayor in {x}",),
            ("{s} is governed by Mayor {o}.", "{o} holds the office of mayor in {s}."),
        ),
        "extra": _w(
            ("the mayor who runs {x}", "the city's mayor in {x}"),
            ("Who runs {x} as its mayor?", "Who is mayor of {x} these days?"),
            ("who runs {x} as mayor",),
            ("{o} holds the mayoralty of {s}.", "{s} has {o} as its mayor."),
        ),
    },
}

# The bank's one pool of wordings, whatever the phrasing asked for: these relations are never
# evaluated, so they have no held-out wording to keep apart.
BANK_WORDINGS: dict[str, Wording] = {
    name: Wording(nps, qs, ind, facts) for name, (_, _, nps, qs, ind, facts) in BANK.items()
}

# "{outer} has a mayor. Where was that person born?": the role the second-last hop names.
_ROLES: dict[str, str] = {
    "author_of": "an author",
    "director_of": "a director",
    "born_in": "a birthplace",
    "capital_of": "a capital",
    "spouse_of": "a spouse",
    "founded_by": "a founder",
    "headquartered_in": "a headquarters city",
    "employer_of": "an employer",
    "educated_at": "an alma mater",
    "mayor_of": "a mayor",
}
_REFERENTS: dict[str, str] = {
    "person": "that person",
    "city": "that city",
    "country": "that country",
    "org": "that company",
    "university": "that university",
    **BANK_REFERENTS,
}

# How a question composes its hops. "{inner}" is the nested noun phrase of all hops but the
# last; "{question}", "{indirect}" and "{np}" are the last hop's question, indirect question
# and noun phrase about {inner} ("{referent}", "X": about a short stand-in instead).
FRAMES: dict[str, dict[str, str]] = {
    "seen": {
        "nested": "{question}",
        "think": "Think about {inner}. {question:referent}",
        "has": "{outer} has {role}. {question:referent}",
        "help": "I'm trying to figure out {indirect}. Can you help?",
        "find": "Can you find {np}?",
    },
    "unseen": {
        "let": "Let X be {inner}. {question:X}",
        "wonder": "I was wondering {indirect} - any idea?",
        "quick": "Quick question: {question:lowercase}",
        "based": "Based on the text, what is {np}?",
    },
    "extra": {
        "given": "Given the passages, {question:lowercase}",
        "first": "First, identify {inner}. {question:referent}",
        "could": "Could you tell me {indirect}?",
        "know": "Do you know {np}?",
    },
}


def _template_table() -> dict[str, str]:
    table: dict[str, str] = {}
    wordings: list[tuple[str, Wording]] = []
    for pool in ALL_POOLS:
        for name, text in FRAMES[pool].items():
            table[f"{pool}/frame/{name}"] = text
        wordings += [(f"{pool}/{rel}", pools[pool]) for rel, pools in WORDINGS.items()]
    wordings += [(f"bank/{rel}", wording) for rel, wording in BANK_WORDINGS.items()]
    for prefix, wording in wordings:
        for part in ("noun_phrases", "questions", "indirect", "facts"):
            for i, text in enumerate(getattr(wording, part)):
                table[f"{prefix}/{part}/{i}"] = text
    return table


# Every template by id ("seen/capital_of/facts/1"); `meta["templates"]` lists these ids.
TEMPLATES: dict[str, str] = _template_table()


def _pick(
    rng: random.Random, pool: str, rel: Relation, part: str, simple: bool = True
) -> tuple[str, str]:
    """(id, template) for one hop; a possessive template only about a `simple` subject."""
    if rel.name in BANK_WORDINGS:
        pool, wording = "bank", BANK_WORDINGS[rel.name]
    else:
        wording = WORDINGS[rel.name][pool]
    options = [(i, t) for i, t in enumerate(getattr(wording, part)) if simple or "{x}'s" not in t]
    i, text = rng.choice(options)
    return f"{pool}/{rel.name}/{part}/{i}", text


def _compose(
    rng: random.Random, pool: str, chain: list[Relation], start: str, start_kind: str
) -> tuple[str, list[str]]:
    """A question about `chain` from `start` in `pool`'s phrasing, and the template ids used."""
    last = chain[-1]
    frames = [f for f in FRAMES[pool] if f != "has" or chain[-2].name in _ROLES]
    frame = rng.choice(frames)
    ids = [f"{pool}/frame/{frame}"]
    inner_rels = chain[:-2] if frame == "has" else chain[:-1]
    phrase, simple = start, start_kind != "work"
    for rel in inner_rels:
        tid, text = _pick(rng, pool, rel, "noun_phrases", simple)
        ids.append(tid)
        phrase, simple = text.format(x=phrase), False
    if frame in ("nested", "quick", "given"):
        tid, text = _pick(rng, pool, last, "questions", simple)
        question = text.format(x=phrase)
        if frame != "nested":
            if not text.startswith("{"):
                question = question[0].lower() + question[1:]
            lead = "Quick question:" if frame == "quick" else "Given the passages,"
            question = f"{lead} {question}"
    elif frame in ("think", "has", "let", "first"):
        tid, text = _pick(rng, pool, last, "questions")
        stand_in = "X" if frame == "let" else _REFERENTS[last.subject]
        follow = _capitalize(text.format(x=stand_in))
        if frame == "think":
            question = f"Think about {phrase}. {follow}"
        elif frame == "first":
            question = f"First, identify {phrase}. {follow}"
        elif frame == "has":
            question = f"{_capitalize(phrase)} has {_ROLES[chain[-2].name]}. {follow}"
        else:
            question = f"Let X be {phrase}. {follow}"
    elif frame in ("help", "wonder", "could"):
        tid, text = _pick(rng, pool, last, "indirect", simple)
        indirect = text.format(x=phrase)
        if frame == "help":
            question = f"I'm trying to figure out {indirect}. Can you help?"
        elif frame == "wonder":
            question = f"I was wondering {indirect} - any idea?"
        else:
            question = f"Could you tell me {indirect}?"
    else:  # find, based, know
        tid, text = _pick(rng, pool, last, "noun_phrases", simple)
        np = text.format(x=phrase)
        leads = {"find": "Can you find", "based": "Based on the text, what is"}
        lead = leads.get(frame, "Do you know")
        question = f"{lead} {np}?"
    ids.append(tid)
    return _capitalize(question), ids


def _canonical_question(chain: list[Relation], start: str) -> str:
    """The one-template question ("Where was the mayor of the capital of Lekria born?"): the
    logical item's key, deciding its split whatever the phrasing."""
    phrase = start
    for rel in chain[:-1]:
        phrase = rel.noun_phrase.format(x=phrase)
    return _capitalize(chain[-1].question.format(x=phrase))


# Filler sentences that carry one number: (template, lowest, highest).
_NUMBER_FILLERS: dict[str, tuple[str, int, int]] = {
    "work": ("It first appeared in {}.", 1850, 2020),
    "org": ("It was established in {}.", 1850, 2020),
    "team": ("It was formed in {}.", 1870, 2020),
    "band": ("It released its first record in {}.", 1960, 2023),
    "building": ("It was completed in {}.", 1700, 2020),
    "pet": ("It is {} years old.", 2, 14),
}


def _filler(kind: str, name: str, rng: random.Random) -> str:
    """A sentence about an entity that answers none of the questions (noise, as in MuSiQue)."""
    if kind == "person":
        job = rng.choice(_PROFESSIONS)
        return f"{name} worked as {'an' if job[0] in 'aeiou' else 'a'} {job} for many years."
    if kind == "city":
        return f"It has a population of about {rng.randint(2, 900) * 1000:,}."
    if kind == "country":
        return f"Its official language is {rng.choice(_LANGUAGES)}."
    if kind in _NUMBER_FILLERS:
        template, low, high = _NUMBER_FILLERS[kind]
        return template.format(rng.randint(low, high))
    return f"It has about {rng.randint(2, 60) * 1000:,} students."


def _display(kind: str, name: str) -> str:
    return f"'{name}'" if kind == "work" else name


def _paragraph(kind: str, name: str, fact: str, rng: random.Random) -> str:
    sentences = [fact, _filler(kind, name, rng)]
    rng.shuffle(sentences)
    return f"{name}: {' '.join(sentences)}"


def _random_chain(
    rng: random.Random, hops: int, relations: tuple[Relation, ...] = RELATIONS
) -> list[Relation]:
    # A hop that must be followed by another needs an object something can be asked about (a
    # pet ends a chain); every core kind has one, so the core draws are unchanged by the rule.
    continued = {r.subject for r in relations}

    def usable(r: Relation, more: bool) -> bool:
        return not more or r.object in continued

    chain = [rng.choice([r for r in relations if usable(r, hops > 1)])]
    while len(chain) < hops:
        prev = chain[-1]
        more = len(chain) + 1 < hops
        options = [
            r
            for r in relations
            if r.subject == prev.object
            and (prev.name, r.name) not in _NO_FOLLOW
            and usable(r, more)
        ]
        chain.append(rng.choice(options))
    return chain


def _check_relations(relations: str) -> str:
    if relations not in RELATION_SETS:
        raise ValueError(f"relations must be one of {tuple(RELATION_SETS)}, got {relations!r}")
    return relations


def _check_trace(trace: str) -> str:
    if trace not in TRACES:
        raise ValueError(f"trace must be one of {TRACES}, got {trace!r}")
    return trace


def _local_phrases(
    key: str, pool: str, chain: list[Relation], entities: list[str], question_ids: list[str]
) -> list[str]:
    """Each hop as a noun phrase about its own subject ("the mayor of Drothburg"), worded as
    the question words that relation where it does so with a noun phrase, so a trace learns to
    copy the question's relation rather than to name one of its own. A hop the question words
    otherwise (the last, asked as a question; the one a "has" frame names by its role) gets one
    of the pool's noun phrases, from a stream of its own so the item's other draws stay put."""
    # `_compose` lists the frame, then one template per hop in chain order, except the hop a
    # "has" frame names by its role, which has none.
    per_hop: list[str | None] = list(question_ids[1:])
    if len(per_hop) < len(chain):
        per_hop.insert(len(chain) - 2, None)
    own = random.Random(f"multihop-local/{key}")
    phrases = []
    for rel, subject, tid in zip(chain, entities[:-1], per_hop, strict=True):
        if tid is not None and "/noun_phrases/" in tid:
            template = TEMPLATES[tid]
        else:
            template = _pick(own, pool, rel, "noun_phrases", rel.subject != "work")[1]
        phrases.append(template.format(x=_display(rel.subject, subject)))
    return phrases


def _check_phrasing(phrasing: str) -> str:
    if phrasing not in PHRASINGS:
        raise ValueError(f"phrasing must be one of {PHRASINGS}, got {phrasing!r}")
    return phrasing


def random_example(
    rng: random.Random,
    hops: int,
    split: str,
    distractors: int = 3,
    phrasing: str = "seen",
    relations: str = "core",
    trace: str = "nested",
) -> Example:
    """One example; `rng` draws the logical item (world, chain, context) exactly as it would in
    any phrasing, and the wording comes from a stream seeded by the item's canonical key. The
    `trace` changes only the reasoning steps."""
    _check_phrasing(phrasing)
    _check_relations(relations)
    _check_trace(trace)
    if not MIN_HOPS <= hops <= MAX_HOPS:
        raise ValueError(f"hops must be in [{MIN_HOPS}, {MAX_HOPS}], got {hops}")
    names = _Names(rng)
    chain = _random_chain(rng, hops, RELATION_SETS[relations])
    entities = [names.make(chain[0].subject)] + [names.make(r.object) for r in chain]
    start = _display(chain[0].subject, entities[0])
    key = _canonical_question(chain, start)
    style = random.Random(f"multihop-phrasing/{key}")
    if phrasing == "any":
        pool = style.choice(POOLS)
    elif phrasing == "wide":
        pool = style.choice(TRAINING_POOLS)
    else:
        pool = phrasing

    phrase = start
    paragraphs: list[str] = []
    steps: list[str] = []
    facts: list[str] = []
    fact_ids: list[str] = []
    for i, rel in enumerate(chain):
        subj, obj = entities[i], entities[i + 1]
        tid, text = _pick(style, pool, rel, "facts")
        fact = _capitalize(text.format(s=_display(rel.subject, subj), o=obj))
        facts.append(fact)
        fact_ids.append(tid)
        paragraphs.append(_paragraph(rel.subject, subj, fact, rng))
        phrase = rel.noun_phrase.format(x=phrase)
        steps.append(f"{fact} So {phrase} is {obj}.")
    question, question_ids = _compose(style, pool, chain, start, chain[0].subject)
    if trace == "local":
        phrases = _local_phrases(key, pool, chain, entities, question_ids)
        steps = [
            f"{fact} So {hop} is {obj}."
            for fact, hop, obj in zip(facts, phrases, entities[1:], strict=True)
        ]

    # Distractors: the chain's relations again, about other (made-up) entities.
    distractor_ids: list[str] = []
    for _ in range(distractors):
        rel = rng.choice(chain)
        subj, obj = names.make(rel.subject), names.make(rel.object)
        tid, text = _pick(style, pool, rel, "facts")
        distractor_ids.append(tid)
        fact = _capitalize(text.format(s=_display(rel.subject, subj), o=obj))
        paragraphs.append(_paragraph(rel.subject, subj, fact, rng))
    rng.shuffle(paragraphs)

    return Example(
        id=content_id("multihop", question),
        dataset="multihop",
        question=question,
        final_answer=entities[-1],
        intermediate_answers=entities[1:],
        reasoning_steps=steps,
        difficulty=hops,
        split=split,
        answer_type="text",
        context=paragraphs,
        meta={
            "relations": [r.name for r in chain],
            "start": entities[0],
            "key": key,
            "phrasing": pool,
            "templates": {
                "question": question_ids,
                "facts": fact_ids,
                "distractors": distractor_ids,
            },
            "facts": facts,
        },
    )


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def generate(
    n: int,
    split: str = "train",
    seed: int = 0,
    hops: int | tuple[int, ...] | list[int] = (2, 3, 4),
    distractors: int = 3,
    phrasing: str = "seen",
    relations: str = "core",
    trace: str = "nested",
) -> list[Example]:
    """`n` distinct questions of `split`; hop counts cycle through `hops`.

    `phrasing`: "seen" (the training templates), "unseen" (a disjoint set kept out of training),
    "any" (either, per example), "extra" (a third disjoint set) or "wide" (seen or extra, per
    example: every wording training may see). It changes only the wording: the same seed gives
    the same logical items (chain, entities, answers) in every phrasing, and an item's split is
    decided by its canonical key (`meta["key"]`), never by its wording.

    `relations`: "core" (the twelve relations every evaluation set uses) or "wide" (those and
    the training-only bank of `tasks.multihop_relations`, over more kinds of entity).

    `trace`: how the reasoning steps restate each hop (`TRACES`); the questions, contexts and
    answers are the same in both.
    """
    _check_phrasing(phrasing)
    _check_relations(relations)
    _check_trace(trace)

    def draw(rng: random.Random, size: int) -> Candidate:
        ex = random_example(rng, size, split, distractors, phrasing, relations, trace)
        return ex.meta["key"], ex.meta["key"], lambda: ex

    return draw_distinct("multihop", n, split, seed, hops, draw)
