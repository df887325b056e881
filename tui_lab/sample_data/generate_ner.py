"""The synthetic named-entity set ``ner/``: English sentences tagged PER, ORG, LOC and MISC in IOB2.

Templates with ``{PER}``, ``{ORG}``, ``{LOC}`` and ``{MISC}`` slots are filled by one
``random.Random`` with a fixed seed and written as CoNLL files (``train.conll``, ``dev.conll``,
``test.conll``: one ``token tag`` pair a line, a blank line between sentences), so the same seed
always gives the same bytes. No sentence appears twice in the set. Called from ``generate.py``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

NER_SEED = 2024
NER_SIZES = {"train": 800, "dev": 200, "test": 200}
TYPES = ("PER", "ORG", "LOC", "MISC")


def _L(spec: str) -> list[str]:
    return [item.strip() for item in spec.split("|")]


FIRST = _L(
    "Anna|Peter|Maria|John|Sofia|Luis|Chen|Fatima|Oliver|Yuki|Ahmed|Elena|David|Priya|Lars|"
    "Grace|Tom|Ines|Marco|Hannah|Kofi|Nadia|Paul|Rosa|Viktor|Leila|Samuel|Mei|Jonas|Clara"
)
LAST = _L(
    "Smith|Novak|Garcia|Okafor|Tanaka|Schmidt|Rossi|Kowalski|Haddad|Johnson|Lindqvist|Moreau|"
    "Petrov|Singh|Mensah|Costa|Fischer|Nakamura|Brown|Dubois|Silva|Jensen|Ivanova|Murphy"
)
ORG = _L(
    "Acme Corp|Globex|Initech|Northwind Traders|Blue River Bank|Apex Motors|Helios Energy|"
    "the United Nations|Red Cross|Stellar Airlines|Orion Labs|Vertex Software|Greenfield University|"
    "City Council|Pioneer Foods|Atlas Mining|Nimbus Cloud|Harbor Logistics|Summit Health|"
    "the World Bank|Quantum Dynamics|Riverside Hospital|Falcon Media|Evergreen Bank"
)
LOC = _L(
    "Paris|Berlin|Tokyo|Lagos|Lima|Oslo|Cairo|Toronto|Madrid|Nairobi|Seoul|Lisbon|Chicago|"
    "New York|Buenos Aires|Cape Town|Vienna|Mumbai|Sydney|Dublin|Hanoi|Warsaw|the Alps|"
    "South Africa|Brazil|Canada|Japan|Kenya|Norway|Germany|Mexico|Egypt"
)
MISC = _L(
    "French|German|Japanese|Brazilian|Kenyan|English|Spanish|Olympic Games|World Cup|"
    "Nobel Prize|Python|Christmas|Ramadan|Euro|Tour de France|Oscar|Mandarin|Norwegian|"
    "Champions League|Grammy"
)
POOLS = {"PER": None, "ORG": ORG, "LOC": LOC, "MISC": MISC}

TEMPLATES = _L(
    "{PER} works for {ORG} in {LOC} .|"
    "{ORG} opened a new office in {LOC} last week .|"
    "{PER} said the {MISC} team played well .|"
    "{PER} met {PER} in {LOC} on Monday .|"
    "The {MISC} delegation arrived in {LOC} .|"
    "{ORG} hired {PER} as its new chief executive .|"
    "Shares of {ORG} rose after the report from {LOC} .|"
    "{PER} won the {MISC} in {LOC} .|"
    "According to {PER} , {ORG} will expand to {LOC} .|"
    "The {MISC} festival in {LOC} drew large crowds .|"
    "{PER} , a spokesperson for {ORG} , declined to comment .|"
    "Flights from {LOC} to {LOC} were cancelled .|"
    "{ORG} and {ORG} agreed to merge .|"
    "{PER} speaks fluent {MISC} .|"
    "The mayor of {LOC} thanked {PER} .|"
    "{PER} left {ORG} after ten years .|"
    "Police in {LOC} are looking for witnesses .|"
    "It rained all day in {LOC} .|"
    "{PER} will lead the {MISC} campaign .|"
    "Officials from {ORG} visited {LOC} on Friday .|"
    "{PER} moved to {LOC} to study at {ORG} .|"
    "The report was published by {ORG} .|"
    "Nobody expected the {MISC} result .|"
    "Prices fell sharply in the second quarter .|"
    "{PER} thanked fans in {LOC} after the {MISC} .|"
    "{ORG} reported record profits this year .|"
    "A storm hit the coast near {LOC} .|"
    "{PER} told reporters that {ORG} would not sell ."
)


def _fill(rng: random.Random, slot: str) -> list[str]:
    """The words of one entity of type ``slot``."""
    if slot == "PER":
        name = rng.choice(FIRST) + (" " + rng.choice(LAST) if rng.random() < 0.7 else "")
    else:
        pool = POOLS[slot]
        assert pool is not None
        name = rng.choice(pool)
    return name.split()


def ner_sentence(rng: random.Random) -> list[tuple[str, str]]:
    """One sentence as (word, IOB2 tag) pairs; "the" before an ORG or LOC name stays outside it."""
    pairs: list[tuple[str, str]] = []
    for part in re.split(r"(\{[A-Z]+\})", rng.choice(TEMPLATES)):
        if part.startswith("{"):
            slot = part[1:-1]
            words = _fill(rng, slot)
            if words[0] == "the":
                pairs.append(("the", "O"))
                words = words[1:]
            pairs += [(w, ("B-" if i == 0 else "I-") + slot) for i, w in enumerate(words)]
        else:
            pairs += [(w, "O") for w in part.split()]
    if pairs and pairs[0][0] == "the":
        pairs[0] = ("The", "O")
    return pairs


def build_ner() -> dict[str, list[list[tuple[str, str]]]]:
    """Every split of ``ner/``: no sentence shared anywhere."""
    rng = random.Random(NER_SEED)
    seen: set[str] = set()
    splits: dict[str, list[list[tuple[str, str]]]] = {}
    for split, size in NER_SIZES.items():
        rows: list[list[tuple[str, str]]] = []
        while len(rows) < size:
            sent = ner_sentence(rng)
            key = " ".join(w for w, _ in sent).lower()
            if key not in seen:
                seen.add(key)
                rows.append(sent)
        splits[split] = rows
    return splits


def write_conll(path: Path, rows: list[list[tuple[str, str]]]) -> None:
    """``word tag`` a line, a blank line after each sentence; UTF-8, ``\\n`` line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        for sent in rows:
            fh.write("".join(f"{w} {t}\n" for w, t in sent) + "\n")


def write_ner(root: Path) -> None:
    """Write ``root/ner/{train,dev,test}.conll`` and print what each holds."""
    for split, rows in build_ner().items():
        write_conll(root / "ner" / f"{split}.conll", rows)
        counts = Counter(t[2:] for sent in rows for _, t in sent if t.startswith("B-"))
        print(f"ner/{split}.conll: {len(rows)} sentences ({', '.join(f'{k}={counts[k]}' for k in TYPES)})")
