"""Everyday prompts: what a new user types first, kept sane through fine-tuning.

A fine-tune on narrow tasks forgets the base model's plain answers ("What is the capital of
France?" came back "France"). A share of the training mix therefore distils the base model's
own greedy answers to varied everyday prompts into the interleaved format: one short think,
then the base model's answer (`distilled_example`). The held-out split measures how often the
fine-tuned model's first answer still agrees with the base model's (`agreement`).

Prompts are built from templates and fillers here, deterministic, no download; which split a
prompt belongs to is a hash of its text (`tasks.splits`), as for every generator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import product
from pathlib import Path

from tasks.example import Example, content_id, read_jsonl
from tasks.splits import split_of

# The base model's answers, written by `python -m training.distill` (it needs the engine).
SHIPPED = Path(__file__).resolve().parent / "data" / "everyday.jsonl"
# A first answer "agrees" with the base model's when their token F1 reaches this.
AGREE_AT = 0.5

_COUNTRIES = (
    "France", "Germany", "Italy", "Spain", "Japan", "China", "India", "Brazil", "Canada",
    "Mexico", "Egypt", "Kenya", "Russia", "Australia", "Argentina", "Portugal", "Greece",
    "Sweden", "Norway", "Poland", "Turkey", "Peru", "Chile", "Thailand", "Vietnam", "Ireland",
    "Austria", "Belgium", "Netherlands", "Switzerland", "Finland", "Denmark", "Morocco",
    "Nigeria", "Indonesia", "South Korea", "the United Kingdom", "the United States", "Cuba",
    "Hungary",
)  # fmt: skip
_ANIMALS = (
    "dog", "cat", "spider", "bird", "horse", "cow", "ant", "octopus", "snake", "chicken",
    "elephant", "dolphin", "frog", "bee", "lion", "penguin", "rabbit", "shark", "owl", "fish",
)  # fmt: skip
_THINGS = (
    "a computer", "a bicycle", "a volcano", "photosynthesis", "gravity", "a rainbow", "the moon",
    "a battery", "an atom", "a planet", "a library", "democracy", "a virus", "an island",
    "a glacier", "electricity", "a telescope", "the internet", "a desert", "a calendar",
    "a noun", "a verb", "an ocean", "a musical instrument", "a vaccine", "a recipe",
)  # fmt: skip
_ADJECTIVES = (
    "happy", "big", "fast", "cold", "bright", "old", "strong", "quiet", "easy", "rich", "early",
    "hard", "clean", "light", "beautiful", "angry", "small", "hot", "dark", "simple",
)  # fmt: skip
_COLOURED = (
    "the sky", "grass", "snow", "a banana", "a tomato", "the sun", "coal", "an orange",
    "blood", "milk", "a lemon", "the sea",
)  # fmt: skip
_TOPICS = (
    "the sea", "autumn", "coffee", "mountains", "friendship", "rain", "the city", "winter",
    "books", "music", "the stars", "a garden",
)  # fmt: skip
_ACTIVITIES = (
    "sleeping better", "learning a language", "saving money", "studying", "running",
    "cooking pasta", "staying focused", "writing an email", "making friends", "reading more",
    "drinking more water", "public speaking",
)  # fmt: skip
_WORDS = ("hello", "thank you", "cat", "water", "good morning", "friend", "house", "book")
_LANGUAGES = ("French", "Spanish", "German", "Italian")
_PLAIN = (
    "Hi!", "Hello, who are you?", "How are you today?", "Good morning!", "What can you do?",
    "Tell me a joke.", "What should I eat for breakfast?", "Can you help me?",
    "What day comes after Monday?", "How many days are in a week?",
    "How many months are in a year?", "How many hours are in a day?",
    "What is the boiling point of water?",
    "What is the largest planet in the solar system?", "What is the largest ocean on Earth?",
    "Who painted the Mona Lisa?", "Who wrote Romeo and Juliet?", "What is the tallest mountain?",
    "What gas do plants take in?", "What do bees make?", "Thanks for your help!",
    "Recommend a good book.", "What is your name?", "Give me a motivational quote.",
    "What is the fastest land animal?", "Which planet is known as the red planet?",
    "What is the freezing point of water?", "How many continents are there?",
    "What is the chemical symbol for water?", "Who was the first person on the moon?",
)  # fmt: skip

# (category, templates, fillers, the short think written before the base model's answer)
_CATEGORIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        "capital",
        (
            "What is the capital of {x}?",
            "Which city is the capital of {x}?",
            "Name the capital of {x}.",
            "what's the capital of {x}",
        ),
        _COUNTRIES,
        "This asks for the capital city of {x}; I answer it directly.",
    ),
    (
        "language",
        ("What language is spoken in {x}?", "Which language do people speak in {x}?"),
        _COUNTRIES,
        "This asks which language is spoken in {x}; I answer it directly.",
    ),
    (
        "legs",
        ("How many legs does a {x} have?", "How many legs has a {x} got?"),
        _ANIMALS,
        "This asks how many legs a {x} has; I answer it directly.",
    ),
    (
        "animal fact",
        ("Tell me a fun fact about the {x}.", "What is interesting about a {x}?"),
        _ANIMALS,
        "This asks for a fact about the {x}; I answer it directly.",
    ),
    (
        "definition",
        ("What is {x}?", "Explain {x} in one sentence.", "Can you tell me what {x} is?"),
        _THINGS,
        "This asks what {x} is; I explain it briefly.",
    ),
    (
        "synonym",
        ("Give me a synonym for {x}.", "What is another word for {x}?"),
        _ADJECTIVES,
        "This asks for a word that means {x}; I answer it directly.",
    ),
    (
        "opposite",
        ("What is the opposite of {x}?", "What's the antonym of {x}?"),
        _ADJECTIVES,
        "This asks for the opposite of {x}; I answer it directly.",
    ),
    (
        "colour",
        ("What color is {x}?", "What colour is {x} usually?"),
        _COLOURED,
        "This asks for the colour of {x}; I answer it directly.",
    ),
    (
        "poem",
        ("Write a haiku about {x}.", "Write two lines about {x}."),
        _TOPICS,
        "This asks for a short poem about {x}; I write it.",
    ),
    (
        "tip",
        ("Give me one tip for {x}.", "Any advice for {x}?"),
        _ACTIVITIES,
        "This asks for advice on {x}; I give it briefly.",
    ),
    (
        "translate",
        tuple(f"How do you say '{{x}}' in {lang}?" for lang in _LANGUAGES),
        _WORDS,
        "This asks for a translation of '{x}'; I answer it directly.",
    ),
    ("plain", ("{x}",), _PLAIN, "A short everyday message; I reply to it directly."),
)


def prompts(split: str | None = None) -> list[tuple[str, str, str]]:
    """(category, prompt, think) for every prompt, or for one split's."""
    out = []
    for category, templates, fillers, think in _CATEGORIES:
        for template, x in product(templates, fillers):
            text = template.format(x=x)
            if split is None or split_of(text) == split:
                out.append((category, text, think.format(x=x)))
    return out


def clean_answer(text: str, max_words: int = 60) -> str:
    """The base model's answer as an answer segment: no tags, whitespace folded, cut at a
    sentence end within `max_words` words (the base model sometimes runs on)."""
    text = re.sub(r"</?(think|answer)>", "", text)
    text = " ".join(text.split())
    words = text.split(" ")
    if len(words) <= max_words:
        return text
    cut = " ".join(words[:max_words])
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 0 else cut


def distilled_example(category: str, prompt: str, think: str, answer: str, split: str) -> Example:
    """One everyday prompt with the base model's answer, laid out as one think and one answer.
    The user's text is sent as typed: no answer-form hint (`meta["hint"]`)."""
    answer = clean_answer(answer)
    return Example(
        id=content_id("everyday", prompt),
        dataset="everyday",
        question=prompt,
        final_answer=answer,
        intermediate_answers=[answer],
        reasoning_steps=[think],
        split=split,
        answer_type="text",
        meta={"category": category, "hint": False},
    )


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def agreement(answer: str, reference: str) -> float:
    """Token F1 between two answers (0..1): how much of the same content they state."""
    a, b = _tokens(answer), _tokens(reference)
    if not a or not b:
        return float(a == b)
    common = 0
    pool = list(b)
    for t in a:
        if t in pool:
            pool.remove(t)
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


def agrees(answers: Sequence[str], ex: Example) -> bool:
    """Whether a response's first answer states what the base model answered."""
    return bool(answers) and agreement(answers[0], ex.final_answer) >= AGREE_AT


def generate(n: int, split: str = "test", seed: int = 0) -> list[Example]:
    """The first `n` shipped prompts of `split` with the base model's answers (`seed` is
    accepted for the registry's signature; the file's order is fixed)."""
    examples = [ex for ex in read_jsonl(SHIPPED) if ex.split == split]
    if n > len(examples):
        raise ValueError(f"only {len(examples)} everyday prompts in the {split} split, asked {n}")
    return examples[:n]
