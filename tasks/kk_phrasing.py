"""The many ways a person writes a knights-and-knaves puzzle, split into seen and unseen sets.

Users do not phrase questions like a generator. Training sees the `seen` templates, or `wide`
ones (the seen templates and an `extra` set of further wordings, for training that should meet
more ways of asking); the `unseen` ones (other introductions, other ways to attribute a
statement, other connective and role wordings, other closing questions) never reach training,
so accuracy on them measures whether a model learned the task or the template. No template is
in two of the three sets.

A question is rendered from independent choices (intro, how each statement is attributed,
how each statement is worded, the closing question); each choice draws from the set of its
phrasing. The reasoning trace restates every statement in one canonical wording
(`kk_trace.canonical`), so the model learns to translate any wording into it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tasks.kk_logic import Statement

PHRASINGS: tuple[str, ...] = ("seen", "unseen", "any", "wide")

# Several hundred given names from many languages, none a word a statement uses.
NAMES: tuple[str, ...] = tuple(
    """
    Zoey Oliver Aurora William Lily Jack Mia Ethan Chloe Lucas Emma Noah Ava Liam Sofia Mason
    Harper Logan Ella James Grace Henry Scarlett Owen Abigail Samuel Victoria Daniel Evelyn
    Joseph Penelope David Riley Gabriel Nora Isaac Hazel Caleb Violet Jacob Aiko Hiroshi Yuki
    Kenji Sakura Haruto Mei Ren Sora Takumi Wei Jing Li Ming Xiao Hua Lan Jun Bao Chen Anh
    Minh Linh Quang Thu Duc Priya Arjun Ananya Rohan Kavya Vikram Aditi Rahul Sanjay Meera
    Ravi Lakshmi Ishaan Divya Nikhil Pooja Amir Layla Omar Fatima Yusuf Zainab Karim Samira
    Tariq Noor Hassan Leila Rami Dalia Khalid Yasmin Kwame Amara Chidi Ngozi Tunde Ayo Zuri
    Jabari Nia Kofi Abena Sipho Thandi Lerato Tendai Chipo Baraka Imani Juma Amani Mateo
    Valentina Santiago Camila Diego Lucia Javier Carmen Pablo Elena Alejandro Isabel Rafael
    Marisol Andres Paloma Joao Beatriz Tiago Ines Rodrigo Mariana Luca Giulia Marco Chiara
    Matteo Francesca Paolo Alessia Enzo Bianca Pierre Camille Louis Manon Hugo Chloé Antoine
    Elodie Mathis Juliette Lukas Lena Felix Hannah Jonas Clara Maximilian Greta Tobias Frieda
    Lars Ingrid Sven Astrid Erik Freya Nils Sigrid Bjorn Liv Anders Maja Mikko Aino Eero Ilona
    Jan Zofia Piotr Agnieszka Tomasz Katarzyna Pavel Olga Dmitri Irina Sergei Natasha Ivan
    Anya Boris Mila Oleg Vera Yuri Daria Nikos Eleni Yannis Sofia Kostas Maria Dimitra Stavros
    Aylin Emre Elif Burak Zeynep Mehmet Deniz Selin Cem Ebru Aram Ani Davit Nune Tamar Giorgi
    Nino Levan Ari Noa Eitan Tali Yael Oren Shira Avi Rivka Moshe Ciaran Aoife Niamh Eoin Siobhan
    Declan Rhys Cerys Dylan Megan Gareth Ffion Callum Isla Fraser Morag Alistair Eilidh Kai
    Leilani Keanu Malia Koa Nalani Tama Aroha Wiremu Mere Ngaio Rangi Talia Ezra Miriam Silas
    Ruth Jonah Esther Caspar Matilda Rupert Beatrix Otto Edith Ansel Ida Magnus Thea Viggo Elsa
    Dario Nadia Stefan Milena Bogdan Vesna Goran Jelena Marek Lucie Ondrej Tereza Viktor Petra
    Laszlo Zsofia Andras Reka Florin Ioana Mihai Ilinca Teodor Raluca Arash Parisa Dariush
    Shirin Kian Roya Babak Mina Farid Soraya Tenzin Pema Dorje Yangchen Bilal Sana Imran Hira
    Kamal Rania Nasser Huda Jamal Salma Idris Amina Malik Halima Sefa Esi Kojo Adwoa Femi Bisi
    Emeka Adaeze Obi Chiamaka Luis Rosa Ernesto Lupe Hector Pilar Ignacio Alba Bruno Renata
    Caio Livia Otavio Helena Ramon Dolores Felipe Ximena Emilio Catalina Tupac Quilla Inti
    Killa Atlas Juno Orion Wren Rowan Sage Ivy Jasper Hazel Felix Iris Milo Luna Arlo Stella
    """.split()  # noqa: SIM905 (a word list reads better as words)
)
NAMES = tuple(dict.fromkeys(NAMES))  # a name listed twice above counts once

# -- introductions ----------------------------------------------------------------------------
# {n}: how many, {names}: "A, B and C", {list}: "A, B, C"

_SEEN_INTROS = (
    "A very special island is inhabited only by knights and knaves. Knights always tell the "
    "truth, and knaves always lie. You meet {n} inhabitants: {names}.",
    "On an island, every inhabitant is either a knight, who always tells the truth, or a "
    "knave, who always lies. You meet {names}.",
    "Knights never lie and knaves never tell the truth. On the island of knights and knaves "
    "you come across {n} people: {names}.",
    "Each of {names} is a knight or a knave. Knights always tell the truth; knaves always lie.",
    "You arrive on an island where knights always say true things and knaves always say "
    "false things. {n} islanders, {names}, greet you.",
    "Here is a knights and knaves puzzle. Knights tell only the truth and knaves tell only "
    "lies. The people are {names}.",
    "In a village live knights (truth-tellers) and knaves (liars). You talk to {names}.",
    "{names} live on an island of knights and knaves. A knight's every statement is true; a "
    "knave's every statement is false.",
    "There are {n} people here, {list}. Each one is either a knight, who only tells the truth, "
    "or a knave, who only tells lies.",
    "Knights and knaves: a knight always speaks truthfully, a knave never does. Meet {names}.",
)
_UNSEEN_INTROS = (
    "Consider {n} residents of a strange island, {names}. A resident is a knight if they "
    "always tell the truth and a knave if they always lie.",
    "Puzzle: there are {n} people ({list}). Some are knights, who are always honest, and the "
    "rest are knaves, who are always dishonest.",
    "Every person on this island is a knight (every statement they make is true) or a knave "
    "(every statement they make is false). You question {names}.",
    "I met {n} people on the island of knights and knaves, where knights always speak the "
    "truth and knaves always lie: {names}.",
)
_EXTRA_INTROS = (
    "{names} are islanders. Every islander is a knight or a knave: knights only say true "
    "things, knaves only say false ones.",
    "Logic puzzle. {n} people, {names}. Each is either a knight (always truthful) or a knave "
    "(always lying).",
    "On the island, knights are always honest and knaves always lie. {n} of them, {names}, "
    "are talking.",
    "We have {n} characters: {list}. Knights say only true statements, while knaves say only "
    "false statements.",
    "{names} each belong to one of two tribes: knights, whose claims are always true, or "
    "knaves, whose claims are always false.",
    "There is an island where truthful knights and lying knaves live. You run into {names}.",
)

# -- attributing a statement ------------------------------------------------------------------
# {name}: the speaker, {q}: the statement (direct speech, already capitalized), {i}: indirect
_SEEN_SAYS: tuple[str, ...] = (
    '{name} says, "{q}."',
    '{name} said, "{q}."',
    '{name} claims, "{q}."',
    '{name} tells you, "{q}."',
    '{name} states: "{q}."',
    '"{q}," says {name}.',
    "{name}: '{q}.'",
    "{name} says that {i}.",
    "According to {name}, {i}.",
    '{name} remarks, "{q}."',
    '{name} answers: "{q}."',
    "{name} claims that {i}.",
    'Asked about it, {name} says, "{q}."',
    "{name} tells you that {i}.",
)
_UNSEEN_SAYS: tuple[str, ...] = (
    '{name} insists, "{q}."',
    '"{q}," {name} declares.',
    "{name} announces that {i}.",
    '{name} tells you: "{q}!"',
    "When asked, {name} replies that {i}.",
)
_EXTRA_SAYS: tuple[str, ...] = (
    "{name} says: {q}.",
    "{name} said: {q}.",
    "{name} says {i}.",
    "{name} said that {i}.",
    '{name} replies, "{q}."',
    "{name} claims: {q}.",
    'Then {name} says, "{q}."',
    "In {name}'s words: {q}.",
    "{name} thinks that {i}, and says so.",
)


# -- wording of roles and connectives ---------------------------------------------------------
@dataclass(frozen=True)
class Wording:
    """How one puzzle words a leaf ("X is a knight"), a negation and each connective."""

    knight: str  # "{x} is a knight"
    knave: str
    not_knight: str
    not_knave: str
    conj: str  # "{a} and {b}"
    disj: str
    implies: str
    iff: str


# A puzzle's roles and its connectives are chosen independently, so every role wording meets
# every connective wording: the model has to read each word, not recognise a fixed set.
Roles = tuple[str, str, str, str]  # knight, knave, not knight, not knave; "{x}" is the person
Connectives = tuple[str, str, str, str]  # and, or, if-then, iff; "{a}" and "{b}" the parts

_SEEN_ROLES: tuple[Roles, ...] = (
    ("{x} is a knight", "{x} is a knave", "{x} is not a knight", "{x} is not a knave"),
    ("{x} is a knight", "{x} is a knave", "{x} isn't a knight", "{x} isn't a knave"),
    ("{x} is truthful", "{x} is a liar", "{x} is not truthful", "{x} is not a liar"),
    (
        "{x} is a truth-teller",
        "{x} is a liar",
        "{x} is not a truth-teller",
        "{x} is not a liar",
    ),
    (
        "{x} is one of the knights",
        "{x} is one of the knaves",
        "{x} is not one of the knights",
        "{x} is not one of the knaves",
    ),
)
_SEEN_CONNECTIVES: tuple[Connectives, ...] = (
    ("{a} and {b}", "{a} or {b}", "if {a} then {b}", "{a} if and only if {b}"),
    ("both {a} and {b}", "either {a} or {b}", "if {a}, then {b}", "{a} exactly when {b}"),
    ("{a}, and {b}", "{a}, or {b}", "{b} if {a}", "{a} if and only if {b}"),
    ("{a} and {b}", "{a} or {b}", "if {a} then {b}", "{a} just in case {b}"),
    (
        "not only {a} but also {b}",
        "{a}, or else {b}",
        "{a} only if {b}",
        "{a} if, and only if, {b}",
    ),
    (
        "{a}; also, {b}",
        "either {a}, or {b}, or both",
        "{b} provided that {a}",
        "{a} when and only when {b}",
    ),
    (
        "{a} and {b} alike",
        "one or both of: {a}; {b}",
        "whenever {a}, {b}",
        "{a} and {b} are both true or both false",
    ),
)
_EXTRA_ROLES: tuple[Roles, ...] = (
    (
        "{x} is a knight",
        "{x} is a knave",
        "it is false that {x} is a knight",
        "it is false that {x} is a knave",
    ),
    (
        "{x} is a truthful knight",
        "{x} is a lying knave",
        "it is not the case that {x} is a knight",
        "it is not true that {x} is a knave",
    ),
    ("{x} is a knight", "{x} is a knave", "{x} is a knave", "{x} is a knight"),
)
_EXTRA_CONNECTIVES: tuple[Connectives, ...] = (
    ("{a} and {b}", "{a} or {b}", "if {a}, {b}", "{a} if and only if {b}"),
    (
        "{a} and {b} too",
        "{a} or {b} or both",
        "{b}, if {a}",
        "either both {a} and {b}, or neither",
    ),
    ("{a}, and also {b}", "{a} and/or {b}", "{a} means {b}", "{a} iff {b}"),
)
_UNSEEN_ROLES: tuple[Roles, ...] = (
    ("{x} is honest", "{x} is a knave", "{x} is no knight", "{x} is no knave"),
    ("{x} tells the truth", "{x} lies", "{x} does not tell the truth", "{x} does not lie"),
)
_UNSEEN_CONNECTIVES: tuple[Connectives, ...] = (
    (
        "{a} and also {b}",
        "at least one of these is true: {a}, {b}",
        "{a} implies {b}",
        "{a} is equivalent to {b}",
    ),
    ("{a} as well as {b}", "{a} or {b} (or both)", "assuming {a}, {b}", "{a} precisely if {b}"),
)


def _wordings(
    roles: tuple[Roles, ...], connectives: tuple[Connectives, ...]
) -> tuple[Wording, ...]:
    return tuple(dict.fromkeys(Wording(*r, *c) for r in roles for c in connectives))


_SEEN_WORDINGS = _wordings(_SEEN_ROLES, _SEEN_CONNECTIVES)
_UNSEEN_WORDINGS = _wordings(_UNSEEN_ROLES, _UNSEEN_CONNECTIVES)
# Extra roles meet seen connectives and the other way round: every pairing not already seen.
_EXTRA_WORDINGS = tuple(
    w
    for w in _wordings(_SEEN_ROLES + _EXTRA_ROLES, _SEEN_CONNECTIVES + _EXTRA_CONNECTIVES)
    if w not in set(_SEEN_WORDINGS)
)

_SEEN_CLOSINGS = (
    "So who is a knight and who is a knave?",
    "Who is a knight and who is a knave?",
    "Determine the role of each person.",
    "Which of them are knights, and which are knaves?",
    "Can you tell who is a knight and who is a knave?",
    "Identify every knight and every knave.",
    "Decide for each person whether they are a knight or a knave.",
    "Who are the knights, and who are the knaves?",
    "What is each of them, knight or knave?",
)
_UNSEEN_CLOSINGS = (
    "Work out who tells the truth and who lies.",
    "Figure out what each of them is.",
    "Classify each inhabitant as a knight or a knave.",
)
_EXTRA_CLOSINGS = (
    "Who is what?",
    "Which ones are knights?",
    "Tell me who is a knight and who is a knave.",
    "What are they?",
    "Sort them into knights and knaves.",
)


@dataclass(frozen=True)
class Templates:
    intros: tuple[str, ...]
    says: tuple[str, ...]
    wordings: tuple[Wording, ...]
    closings: tuple[str, ...]


_TEMPLATE_FIELDS = ("intros", "says", "wordings", "closings")


TEMPLATES: dict[str, Templates] = {
    "seen": Templates(_SEEN_INTROS, _SEEN_SAYS, _SEEN_WORDINGS, _SEEN_CLOSINGS),
    "unseen": Templates(_UNSEEN_INTROS, _UNSEEN_SAYS, _UNSEEN_WORDINGS, _UNSEEN_CLOSINGS),
    "extra": Templates(_EXTRA_INTROS, _EXTRA_SAYS, _EXTRA_WORDINGS, _EXTRA_CLOSINGS),
}
# `wide`: every template training may see, the seen set first.
TEMPLATES["wide"] = Templates(
    *(getattr(TEMPLATES["seen"], f) + getattr(TEMPLATES["extra"], f) for f in _TEMPLATE_FIELDS)
)


def templates_for(phrasing: str, rng: random.Random) -> tuple[str, Templates]:
    if phrasing not in PHRASINGS:
        raise ValueError(f"phrasing must be one of {PHRASINGS}, got {phrasing!r}")
    if phrasing == "any":
        phrasing = rng.choice(("seen", "unseen"))
    return phrasing, TEMPLATES[phrasing]


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


# A first-person leaf: "I am a knight", "I lie"; the grammar of "I" per wording pattern.
_FIRST_PERSON = {
    "{x} is": "I am",
    "{x} isn't": "I'm not",
    "{x} does not lie": "I do not lie",
    "{x} does not tell the truth": "I do not tell the truth",
    "{x} tells the truth": "I tell the truth",
    "{x} lies": "I lie",
}


def _person(pattern: str, who: str, first_person: bool) -> str:
    if first_person:
        for prefix, replacement in sorted(_FIRST_PERSON.items(), key=lambda kv: -len(kv[0])):
            if pattern.startswith(prefix):
                return replacement + pattern[len(prefix) :]
    return pattern.format(x=who)


def _leaf(leaf: Statement, names: list[str], w: Wording, negated: bool, me: int | None) -> str:
    claimed, person = leaf
    pattern = {
        (False, "knight"): w.knight,
        (False, "knave"): w.knave,
        (True, "knight"): w.not_knight,
        (True, "knave"): w.not_knave,
    }[(negated, claimed)]
    return _person(pattern, names[person], person == me)


def wording_of(stmt: Statement, names: list[str], w: Wording, me: int | None) -> str:
    """The statement in this puzzle's wording; `me` is the speaker in direct speech (the
    speaker says "I"), or None in indirect speech."""
    op = stmt[0]
    if op in ("knight", "knave"):
        return _leaf(stmt, names, w, False, me)
    if op == "not":
        return _leaf(stmt[1], names, w, True, me)
    a = wording_of(stmt[1], names, w, me)
    b = wording_of(stmt[2], names, w, me)
    pattern = {"and": w.conj, "or": w.disj, "->": w.implies, "<=>": w.iff}[op]
    return pattern.format(a=a, b=b)


def question(
    names: list[str], statements: list[Statement], rng: random.Random, phrasing: str = "seen"
) -> tuple[str, dict[str, object]]:
    """The puzzle as a user might write it, and which templates it used."""
    chosen, t = templates_for(phrasing, rng)
    intro_i = rng.randrange(len(t.intros))
    wording_i = rng.randrange(len(t.wordings))
    closing_i = rng.randrange(len(t.closings))
    w = t.wordings[wording_i]
    intro = t.intros[intro_i].format(n=len(names), names=and_list(names), list=", ".join(names))
    said, says_used = [], []
    for speaker, stmt in enumerate(statements):
        says_i = rng.randrange(len(t.says))
        says_used.append(says_i)
        pattern = t.says[says_i]
        direct = capitalize(wording_of(stmt, names, w, speaker))
        indirect = wording_of(stmt, names, w, None)
        said.append(pattern.format(name=names[speaker], q=direct, i=indirect))
    text = " ".join([intro, *said, t.closings[closing_i]])
    used: dict[str, object] = {
        "intro": intro_i,
        "wording": wording_i,
        "says": says_used,
        "closing": closing_i,
    }
    return text, {"phrasing": chosen, "templates": used}


QuestionFn = Callable[[list[str], list[Statement], random.Random, str], tuple[str, dict]]
