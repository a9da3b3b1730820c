"""A wider bank of relations for multi-hop training (`multihop.generate(relations="wide")`).

The core generator composes twelve relations, and a model trained on them alone learns those
twelve: asked about a relation it never saw ("the captain of", "the band she sings in"), it
maps the question onto one it knows ("the director of ...") or follows the wrong fact. These
relations, over entity kinds of their own (teams, bands, buildings, pets) as well as the core
ones, are for training only: the evaluation sets use the core relations, so what a model
learns here shows as reading relations rather than remembering them.

Each relation: (subject kind, object kind, noun phrases, questions, indirect questions, fact
sentences); the first noun phrase is the one the reasoning trace restates each hop with.
"""

from __future__ import annotations

BankRelation = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]

BANK: dict[str, BankRelation] = {
    "plays_for": (
        "person",
        "team",
        ("the team {x} plays for", "{x}'s club"),
        ("Which team does {x} play for?", "What club is {x} a player of?"),
        ("which team {x} plays for",),
        ("{s} plays for {o}.", "{o} counts {s} among its players."),
    ),
    "home_ground_of": (
        "team",
        "city",
        ("the city where {x} play at home", "the city {x} play their home matches in"),
        ("Where do {x} play their home matches?", "In which city are {x} based?"),
        ("where {x} play their home matches",),
        ("{s} play their home matches in {o}.", "The home ground of {s} is in {o}."),
    ),
    "captain_of": (
        "team",
        "person",
        ("the captain of {x}", "the player who captains {x}"),
        ("Who captains {x}?", "Who is the captain of {x}?"),
        ("who captains {x}",),
        ("{o} is the captain of {s}.", "{s} are captained by {o}."),
    ),
    "sponsor_of": (
        "team",
        "org",
        ("the sponsor of {x}", "the company that sponsors {x}"),
        ("Which company sponsors {x}?", "Who is the sponsor of {x}?"),
        ("which company sponsors {x}",),
        ("{s} are sponsored by {o}.", "{o} sponsors {s}."),
    ),
    "mentor_of": (
        "person",
        "person",
        ("the mentor of {x}", "the person who mentored {x}"),
        ("Who mentored {x}?", "Who was {x}'s mentor?"),
        ("who mentored {x}",),
        ("{s} was mentored by {o}.", "{o} was the mentor of {s}."),
    ),
    "mother_of": (
        "person",
        "person",
        ("the mother of {x}", "{x}'s mother"),
        ("Who is the mother of {x}?", "Who is {x}'s mother?"),
        ("who the mother of {x} is",),
        ("{o} is the mother of {s}.", "{o} gave birth to {s}."),
    ),
    "manager_of": (
        "person",
        "person",
        ("the manager of {x}", "the person {x} reports to"),
        ("Who does {x} report to?", "Who manages {x}?"),
        ("who {x} reports to",),
        ("{s} reports to {o}.", "{o} is the manager of {s}."),
    ),
    "lives_in": (
        "person",
        "city",
        ("the city {x} lives in", "the town where {x} lives"),
        ("Where does {x} live?", "In which city does {x} live?"),
        ("where {x} lives",),
        ("{s} lives in {o}.", "{s} has a house in {o} and lives there."),
    ),
    "pet_of": (
        "person",
        "pet",
        ("the dog of {x}", "{x}'s dog"),
        ("What is the name of {x}'s dog?", "What is the name of the dog of {x}?"),
        ("what {x}'s dog is called", "what the dog of {x} is called"),
        ("{s} has a dog named {o}.", "{o} is the dog that belongs to {s}."),
    ),
    "member_of_band": (
        "person",
        "band",
        ("the band {x} sings in", "the band of {x}"),
        ("Which band does {x} sing in?", "In what band is {x} the singer?"),
        ("which band {x} sings in",),
        ("{s} sings in {o}.", "{o} have {s} as their singer."),
    ),
    "band_formed_in": (
        "band",
        "city",
        ("the city where {x} formed", "the city {x} come from"),
        ("Where did {x} form?", "In which city were {x} formed?"),
        ("where {x} formed",),
        ("{s} formed in {o}.", "{s} got together in {o}."),
    ),
    "designed_by": (
        "building",
        "person",
        ("the architect of {x}", "the person who designed {x}"),
        ("Who designed {x}?", "Which architect designed {x}?"),
        ("who designed {x}",),
        ("{s} was designed by {o}.", "{o} drew up the plans for {s}."),
    ),
    "stands_in": (
        "building",
        "city",
        ("the city where {x} stands", "the town {x} is in"),
        ("Where does {x} stand?", "In which city is {x}?"),
        ("where {x} stands",),
        ("{s} stands in {o}.", "{s} is a landmark of {o}."),
    ),
    "owned_by": (
        "org",
        "org",
        ("the owner of {x}", "the company that owns {x}"),
        ("Which company owns {x}?", "Who owns {x}?"),
        ("which company owns {x}",),
        ("{s} is owned by {o}.", "{o} owns {s}."),
    ),
    "published_by": (
        "work",
        "org",
        ("the publisher of {x}", "the company that published {x}"),
        ("Who published {x}?", "Which company published {x}?"),
        ("who published {x}",),
        ("{s} was published by {o}.", "{o} brought out {s}."),
    ),
    "translated_by": (
        "work",
        "person",
        ("the translator of {x}", "the person who translated {x}"),
        ("Who translated {x}?", "Who is the translator of {x}?"),
        ("who translated {x}",),
        ("{s} was translated by {o}.", "{o} made the translation of {s}."),
    ),
    "president_of": (
        "country",
        "person",
        ("the president of {x}", "the head of state of {x}"),
        ("Who is the president of {x}?", "Who leads {x} as president?"),
        ("who the president of {x} is",),
        ("{o} is the president of {s}.", "{s} is led by President {o}."),
    ),
    "dean_of": (
        "university",
        "person",
        ("the dean of {x}", "the person who heads {x}"),
        ("Who is the dean of {x}?", "Who heads {x}?"),
        ("who the dean of {x} is",),
        ("{o} is the dean of {s}.", "{s} is headed by Dean {o}."),
    ),
}

# Pairs whose second hop is implied by the first (a fresh entity would contradict the world).
BANK_NO_FOLLOW: frozenset[tuple[str, str]] = frozenset({("owned_by", "owned_by")})

# "Think about the captain of X. Where does that person live?": stand-ins for the new kinds.
BANK_REFERENTS: dict[str, str] = {
    "team": "that team",
    "band": "that band",
    "building": "that building",
    "pet": "that dog",
}
