"""The facts behind the everyday prompts that have one: whether a first answer states it.

The everyday set is judged by agreement with the base model (`tasks.everyday.agrees`), which
says whether fine-tuning kept the base model's behaviour, not whether that behaviour is right:
the base model answers that the capital of Mexico is "El Diablo" and that a shark has 32 legs.
For the prompts with one checkable fact (capitals, languages, legs, opposites, colours,
translations and some plain questions), this says whether an answer states it, so a model can
be measured for staying correct on what users ask first as well as for staying the base model.

An answer states the fact when it contains one of the accepted answers as whole words, case and
accents ignored ("Santiago" in "The capital of Chile is Santiago."). Synonyms, definitions,
poems, tips and chat have no single fact and are not checked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_CAPITALS: dict[str, tuple[str, ...]] = {
    "France": ("Paris",), "Germany": ("Berlin",), "Italy": ("Rome",), "Spain": ("Madrid",),
    "Japan": ("Tokyo",), "China": ("Beijing",), "India": ("New Delhi",),
    "Brazil": ("Brasilia",), "Canada": ("Ottawa",), "Mexico": ("Mexico City",),
    "Egypt": ("Cairo",), "Kenya": ("Nairobi",), "Russia": ("Moscow",),
    "Australia": ("Canberra",), "Argentina": ("Buenos Aires",), "Portugal": ("Lisbon",),
    "Greece": ("Athens",), "Sweden": ("Stockholm",), "Norway": ("Oslo",),
    "Poland": ("Warsaw",), "Turkey": ("Ankara",), "Peru": ("Lima",), "Chile": ("Santiago",),
    "Thailand": ("Bangkok",), "Vietnam": ("Hanoi",), "Ireland": ("Dublin",),
    "Austria": ("Vienna",), "Belgium": ("Brussels",), "Netherlands": ("Amsterdam",),
    "Switzerland": ("Bern", "Berne"), "Finland": ("Helsinki",), "Denmark": ("Copenhagen",),
    "Morocco": ("Rabat",), "Nigeria": ("Abuja",), "Indonesia": ("Jakarta",),
    "South Korea": ("Seoul",), "the United Kingdom": ("London",),
    "the United States": ("Washington",), "Cuba": ("Havana",), "Hungary": ("Budapest",),
}  # fmt: skip
_LANGUAGES: dict[str, tuple[str, ...]] = {
    "France": ("French",), "Germany": ("German",), "Italy": ("Italian",),
    "Spain": ("Spanish", "Castilian"), "Japan": ("Japanese",), "China": ("Chinese", "Mandarin"),
    "India": ("Hindi", "English"), "Brazil": ("Portuguese",), "Canada": ("English", "French"),
    "Mexico": ("Spanish",), "Egypt": ("Arabic",), "Kenya": ("Swahili", "English"),
    "Russia": ("Russian",), "Australia": ("English",), "Argentina": ("Spanish",),
    "Portugal": ("Portuguese",), "Greece": ("Greek",), "Sweden": ("Swedish",),
    "Norway": ("Norwegian",), "Poland": ("Polish",), "Turkey": ("Turkish",),
    "Peru": ("Spanish", "Quechua"), "Chile": ("Spanish",), "Thailand": ("Thai",),
    "Vietnam": ("Vietnamese",), "Ireland": ("English", "Irish"), "Austria": ("German",),
    "Belgium": ("Dutch", "French", "German", "Flemish"), "Netherlands": ("Dutch",),
    "Switzerland": ("German", "French", "Italian", "Romansh"),
    "Finland": ("Finnish", "Swedish"), "Denmark": ("Danish",),
    "Morocco": ("Arabic", "Berber", "Amazigh"), "Nigeria": ("English",),
    "Indonesia": ("Indonesian", "Bahasa"), "South Korea": ("Korean",),
    "the United Kingdom": ("English",), "the United States": ("English",),
    "Cuba": ("Spanish",), "Hungary": ("Hungarian",),
}  # fmt: skip
_NUMBERS = {0: "zero", 2: "two", 4: "four", 6: "six", 8: "eight"}
_LEGS: dict[str, int] = {
    "dog": 4, "cat": 4, "spider": 8, "bird": 2, "horse": 4, "cow": 4, "ant": 6, "octopus": 8,
    "snake": 0, "chicken": 2, "elephant": 4, "dolphin": 0, "frog": 4, "bee": 6, "lion": 4,
    "penguin": 2, "rabbit": 4, "shark": 0, "owl": 2, "fish": 0,
}  # fmt: skip
_OPPOSITES: dict[str, tuple[str, ...]] = {
    "happy": ("sad", "unhappy"), "big": ("small", "little"), "fast": ("slow",),
    "cold": ("hot", "warm"), "bright": ("dark", "dim"), "old": ("young", "new"),
    "strong": ("weak",), "quiet": ("loud", "noisy"), "easy": ("hard", "difficult"),
    "rich": ("poor",), "early": ("late",), "hard": ("soft", "easy"), "clean": ("dirty",),
    "light": ("dark", "heavy"), "beautiful": ("ugly",), "angry": ("calm", "happy"),
    "small": ("big", "large"), "hot": ("cold",), "dark": ("light", "bright"),
    "simple": ("complex", "complicated", "difficult"),
}  # fmt: skip
_COLOURS: dict[str, tuple[str, ...]] = {
    "the sky": ("blue",), "grass": ("green",), "snow": ("white",), "a banana": ("yellow",),
    "a tomato": ("red",), "the sun": ("yellow", "white", "orange"), "coal": ("black",),
    "an orange": ("orange",), "blood": ("red",), "milk": ("white",), "a lemon": ("yellow",),
    "the sea": ("blue", "green"),
}  # fmt: skip
_TRANSLATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "French": {
        "hello": ("bonjour", "salut"), "thank you": ("merci",), "cat": ("chat",),
        "water": ("eau",), "good morning": ("bonjour",), "friend": ("ami", "amie"),
        "house": ("maison",), "book": ("livre",),
    },
    "Spanish": {
        "hello": ("hola",), "thank you": ("gracias",), "cat": ("gato",), "water": ("agua",),
        "good morning": ("buenos dias",), "friend": ("amigo", "amiga"), "house": ("casa",),
        "book": ("libro",),
    },
    "German": {
        "hello": ("hallo",), "thank you": ("danke",), "cat": ("katze",), "water": ("wasser",),
        "good morning": ("guten morgen",), "friend": ("freund", "freundin"),
        "house": ("haus",), "book": ("buch",),
    },
    "Italian": {
        "hello": ("ciao", "salve"), "thank you": ("grazie",), "cat": ("gatto",),
        "water": ("acqua",), "good morning": ("buongiorno",), "friend": ("amico", "amica"),
        "house": ("casa",), "book": ("libro",),
    },
}  # fmt: skip
_PLAIN: dict[str, tuple[str, ...]] = {
    "What day comes after Monday?": ("Tuesday",),
    "How many days are in a week?": ("7", "seven"),
    "How many months are in a year?": ("12", "twelve"),
    "How many hours are in a day?": ("24", "twenty-four", "twenty four"),
    "What is the boiling point of water?": ("100", "212"),
    "What is the largest planet in the solar system?": ("Jupiter",),
    "What is the largest ocean on Earth?": ("Pacific",),
    "Who painted the Mona Lisa?": ("Leonardo", "da Vinci"),
    "Who wrote Romeo and Juliet?": ("Shakespeare",),
    "What is the tallest mountain?": ("Everest",),
    "What gas do plants take in?": ("carbon dioxide", "CO2"),
    "What do bees make?": ("honey",),
    "What is the fastest land animal?": ("cheetah",),
    "Which planet is known as the red planet?": ("Mars",),
    "What is the freezing point of water?": ("0", "zero", "32"),
    "How many continents are there?": ("7", "seven"),
    "What is the chemical symbol for water?": ("H2O",),
    "Who was the first person on the moon?": ("Armstrong",),
}


def _legs(count: int) -> tuple[str, ...]:
    words = (str(count), _NUMBERS[count])
    return (*words, "no legs") if count == 0 else words


# (a pattern over the prompt, capturing its subject, and the table of accepted answers)
_PATTERNS: tuple[tuple[str, dict[str, tuple[str, ...]]], ...] = (
    (r"capital of (.+?)[?.]?$", _CAPITALS),
    (r"(?:spoken|speak) in (.+?)\?$", _LANGUAGES),
    (r"legs (?:does|has) a (.+?) (?:have|got)\?$", {k: _legs(v) for k, v in _LEGS.items()}),
    (r"(?:opposite|antonym) of (.+?)\?$", _OPPOSITES),
    (r"colou?r is (.+?)(?: usually)?\?$", _COLOURS),
)


def fact_answers(question: str) -> tuple[str, ...] | None:
    """The accepted answers to an everyday prompt with one checkable fact; None otherwise."""
    if question in _PLAIN:
        return _PLAIN[question]
    said = re.fullmatch(r"How do you say '(.+)' in (\w+)\?", question)
    if said:
        return _TRANSLATIONS.get(said.group(2), {}).get(said.group(1))
    for pattern, table in _PATTERNS:
        found = re.search(pattern, question)
        if found:
            return table.get(found.group(1))
    return None


def _folded(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.findall(r"[a-z0-9]+", plain.lower()))


def states_fact(answers: Sequence[str], question: str) -> bool | None:
    """Whether the first answer states the prompt's fact; None for prompts without one."""
    accepted = fact_answers(question)
    if accepted is None:
        return None
    first = f" {_folded(answers[0])} " if answers else ""
    return any(f" {_folded(a)} " in first for a in accepted)
