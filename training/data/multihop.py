"""Multi-hop questions over a generated fictional world, in the shape of MuSiQue.

Every example gets its own small world of made-up people, places, works and organisations, so
no answer can come from a model's memory: it must be read from the context paragraphs. A
question composes 2-4 single-hop relations ("Where was the author of 'The Glass River'
born?"); each hop's answer is an intermediate ground truth and the last hop's is the final
answer. The paragraphs state each single-hop fact once, next to distractor paragraphs that use
the same relations with other entities.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from training.data.example import Example, content_id
from training.data.splits import Candidate, draw_distinct

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

# Pairs whose second hop is already implied by the first, so a fresh entity would contradict
# the world: A's spouse's spouse is A; the capital of X lies in X.
_NO_FOLLOW: frozenset[tuple[str, str]] = frozenset(
    {("spouse_of", "spouse_of"), ("capital_of", "located_in")}
)


def _filler(kind: str, name: str, rng: random.Random) -> str:
    """A sentence about an entity that answers none of the questions (noise, as in MuSiQue)."""
    if kind == "person":
        job = rng.choice(_PROFESSIONS)
        return f"{name} worked as {'an' if job[0] in 'aeiou' else 'a'} {job} for many years."
    if kind == "city":
        return f"It has a population of about {rng.randint(2, 900) * 1000:,}."
    if kind == "country":
        return f"Its official language is {rng.choice(_LANGUAGES)}."
    if kind == "work":
        return f"It first appeared in {rng.randint(1850, 2020)}."
    if kind == "org":
        return f"It was established in {rng.randint(1850, 2020)}."
    return f"It has about {rng.randint(2, 60) * 1000:,} students."


def _display(kind: str, name: str) -> str:
    return f"'{name}'" if kind == "work" else name


def _paragraph(kind: str, name: str, fact: str, rng: random.Random) -> str:
    sentences = [fact, _filler(kind, name, rng)]
    rng.shuffle(sentences)
    return f"{name}: {' '.join(sentences)}"


def _random_chain(rng: random.Random, hops: int) -> list[Relation]:
    chain = [rng.choice(RELATIONS)]
    while len(chain) < hops:
        prev = chain[-1]
        options = [
            r
            for r in RELATIONS
            if r.subject == prev.object and (prev.name, r.name) not in _NO_FOLLOW
        ]
        chain.append(rng.choice(options))
    return chain


def random_example(rng: random.Random, hops: int, split: str, distractors: int = 3) -> Example:
    if not MIN_HOPS <= hops <= MAX_HOPS:
        raise ValueError(f"hops must be in [{MIN_HOPS}, {MAX_HOPS}], got {hops}")
    names = _Names(rng)
    chain = _random_chain(rng, hops)
    entities = [names.make(chain[0].subject)] + [names.make(r.object) for r in chain]

    phrase = _display(chain[0].subject, entities[0])
    paragraphs: list[str] = []
    steps: list[str] = []
    for i, rel in enumerate(chain):
        subj, obj = entities[i], entities[i + 1]
        fact = rel.fact.format(s=_display(rel.subject, subj), o=obj)
        paragraphs.append(_paragraph(rel.subject, subj, _capitalize(fact), rng))
        if i == len(chain) - 1:
            question = rel.question.format(x=phrase)
        phrase = rel.noun_phrase.format(x=phrase)
        steps.append(f"{_capitalize(fact)} So {phrase} is {obj}.")

    # Distractors: the chain's relations again, about other (made-up) entities.
    for _ in range(distractors):
        rel = rng.choice(chain)
        subj, obj = names.make(rel.subject), names.make(rel.object)
        fact = rel.fact.format(s=_display(rel.subject, subj), o=obj)
        paragraphs.append(_paragraph(rel.subject, subj, _capitalize(fact), rng))
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
        meta={"relations": [r.name for r in chain], "start": entities[0]},
    )


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def generate(
    n: int,
    split: str = "train",
    seed: int = 0,
    hops: int | tuple[int, ...] | list[int] = (2, 3, 4),
    distractors: int = 3,
) -> list[Example]:
    """`n` distinct questions of `split`; hop counts cycle through `hops`."""
    def draw(rng: random.Random, size: int) -> Candidate:
        ex = random_example(rng, size, split, distractors)
        return ex.question, ex.question, lambda: ex

    return draw_distinct("multihop", n, split, seed, hops, draw)
