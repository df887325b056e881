"""Generate the bundled synthetic sample data sets (pure standard library, no network).

Three small text-classification sets are written next to this file, each as
``train.csv``, ``dev.csv`` and ``test.csv`` with the columns ``text,label``:

* ``sentiment/``    English reviews (films, products, restaurants, hotels, books, apps),
                    labels ``positive`` / ``negative``; includes negation and contrast.
* ``topics/``       English news-headline-like sentences, labels ``sports``, ``business``,
                    ``science``, ``politics``; some vocabulary is shared between classes.
* ``zh_sentiment/`` Simplified Chinese reviews, labels ``positive`` / ``negative``, with
                    negation (不, 没有) and contrast (虽然……但是……).

One multi-label set is written as ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl`` with the
keys ``text`` and ``labels`` (a JSON list):

* ``tickets/``      English customer-support tickets with one to three of the tags
                    ``account``, ``billing``, ``bug``, ``delivery``, ``refund``.

One named-entity set is written as ``train.conll``, ``dev.conll`` and ``test.conll`` (one
``word tag`` pair a line, IOB2 tags, a blank line between sentences; see ``generate_ner.py``):

* ``ner/``          English sentences with ``PER``, ``ORG``, ``LOC`` and ``MISC`` entities.

Everything comes from templates filled by ``random.Random`` with fixed seeds, so running
``python sample_data/generate.py`` rewrites byte-identical files. Labels are balanced within
every split, and no text (compared after strip + lowercase) appears twice in a data set.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TextGenerator = Callable[[random.Random, str], str]
Rows = list[tuple[str, str]]


def L(spec: str) -> list[str]:
    """A word list written compactly as ``"a|b|c"``."""
    return [item.strip() for item in spec.split("|")]


def cap(text: str) -> str:
    """``text`` with its first letter upper-cased (leading quotes are skipped)."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :]
    return text


def flip(label: str) -> str:
    """The opposite sentiment label."""
    return "negative" if label == "positive" else "positive"


# == English sentiment ==========================================================================
@dataclass(frozen=True)
class Domain:
    """The vocabulary of one review domain."""

    subjects: list[str]  # "this movie", "the new bistro" ...
    nouns: list[str]  # bare nouns for very short reviews: "movie", "hotel" ...
    aspects: list[str]  # "the acting", "the room" ...
    pos_facts: list[str]  # whole clauses that are good news in this domain
    neg_facts: list[str]  # ... and bad news
    openers: list[str]  # neutral first sentences
    pos_closers: list[str]
    neg_closers: list[str]

    def facts(self, label: str) -> list[str]:
        return self.pos_facts if label == "positive" else self.neg_facts

    def closers(self, label: str) -> list[str]:
        return self.pos_closers if label == "positive" else self.neg_closers


DOMAINS: list[Domain] = [
    Domain(  # films
        L(
            "this movie|the film|this thriller|the sequel|this documentary|the remake|this comedy|"
            'the new animated feature|this drama|the director\'s latest film|"Midnight Harbor"|'
            '"The Glass Orchard"|this horror movie|the biopic'
        ),
        L("movie|film|thriller|sequel|comedy|documentary|remake|drama|biopic"),
        L(
            "the acting|the plot|the script|the soundtrack|the pacing|the ending|the dialogue|"
            "the cinematography|the lead performance|the CGI|the editing|the cast|"
            "the score|the first act|the humor|the story"
        ),
        L(
            "it kept me hooked until the very last scene|it had the whole theater laughing|"
            "it left me thinking about it for days|the two hours flew by|it moved me to tears|"
            "it gets better every time I watch it|the final twist caught me completely off guard|"
            "the lead actress gives the performance of her career"
        ),
        L(
            "it put me to sleep halfway through|it dragged on for far too long|"
            "I kept checking my watch|the plot made no sense by the end|"
            "it felt like a cheap copy of better films|it wasted a genuinely talented cast|"
            'the "twist" was obvious from the trailer|half the audience left before the end'
        ),
        L(
            "Saw this on opening night.|We watched this as a family on Friday.|"
            "I went in knowing nothing about it.|I finally got around to watching this.|"
            "We streamed this over the weekend."
        ),
        L(
            "I'd happily watch it again.|Go see it on the big screen.|"
            "Easily one of the best films of the year.|Already planning a second viewing."
        ),
        L(
            "I almost walked out.|Skip this one.|Wait until it's free to stream, or better yet, don't bother.|"
            "Two hours I will never get back."
        ),
    ),
    Domain(  # products
        L(
            "this vacuum|the blender|this laptop|the charger|this coffee maker|the keyboard|"
            "this backpack|the air fryer|this smartwatch|the desk lamp|the kettle|this speaker|"
            "the office chair|this electric toothbrush|the rice cooker"
        ),
        L("vacuum|blender|laptop|charger|kettle|keyboard|backpack|speaker|lamp|chair|toothbrush"),
        L(
            "the battery life|the build quality|the sound quality|the design|the packaging|"
            "the screen|the setup process|the instruction manual|the customer support|"
            "the warranty service|the motor|the finish|the delivery"
        ),
        L(
            "it works exactly as advertised|it has held up perfectly after months of daily use|"
            "it arrived a day early and was easy to set up|it does everything I need and more|"
            "it feels sturdy and well made|it charges in under an hour|"
            "it's quieter than my old one by a mile|it replaced three gadgets in my kitchen"
        ),
        L(
            "it stopped working after a week|it broke the second time I used it|"
            "it arrived with a cracked case|it overheats after ten minutes|"
            "it feels cheap and flimsy|it makes an awful rattling noise|"
            'the "waterproof" case leaked on day one|the buttons stopped responding within a month'
        ),
        L(
            "Bought this last month.|I ordered this after reading a lot of reviews.|"
            "Got this as a birthday present.|I've had this for about three weeks now.|"
            "I replaced my old one with this."
        ),
        L(
            "Would buy again.|Worth every penny.|I've already ordered a second one as a gift.|"
            "Best purchase I've made this year."
        ),
        L(
            "I'm sending it back.|Returned it the next day.|Save your money and buy something else.|"
            "Complete waste of money."
        ),
    ),
    Domain(  # restaurants
        L(
            "this restaurant|the new bistro|this little cafe|the pizza place on Main Street|"
            "this sushi bar|the steakhouse|this taco stand|the diner|this bakery|the noodle shop|"
            "this family-run trattoria|the rooftop bar"
        ),
        L("restaurant|bistro|cafe|diner|bakery|steakhouse|pizzeria|brunch spot"),
        L(
            "the food|the service|the atmosphere|the dessert|the pasta|the staff|the wine list|"
            "the coffee|the menu|the burger|the brunch|the waiter|the seafood|the curry"
        ),
        L(
            "every dish was full of flavor|the staff made us feel right at home|"
            "the bread came out warm from the oven|we barely waited for a table|"
            "the chef came out to say hello|the portions were generous and the prices fair|"
            "the tiramisu was the best I've had outside Italy"
        ),
        L(
            "our food arrived cold|we waited over an hour for our mains|"
            "the waiter forgot half of our order|the soup tasted like it came from a can|"
            "the tables were sticky and the floor was filthy|"
            "they charged us for drinks we never ordered|the fish smelled off"
        ),
        L(
            "We came here for a birthday dinner.|Stopped in for lunch on a Tuesday.|"
            "My partner and I tried this place last weekend.|A friend recommended this spot.|"
            "We ordered takeout from here on Sunday."
        ),
        L(
            "We'll definitely be back.|Book a table, you won't regret it.|"
            "Best meal I've had in months.|Our new favorite place in town."
        ),
        L("We won't be back.|Eat somewhere else.|Never again.|I'd give zero stars if I could."),
    ),
    Domain(  # hotels
        L(
            "this hotel|the resort|this bed and breakfast|the inn|this hostel|the lodge|"
            "this motel|the beach resort|the airport hotel|this boutique hotel"
        ),
        L("hotel|resort|inn|hostel|motel|lodge|stay"),
        L(
            "the room|the bed|the breakfast|the pool|the front desk|the location|the view|"
            "the bathroom|the check-in|the housekeeping|the wifi|the spa|the gym|the shower"
        ),
        L(
            "the room was spotless when we arrived|the front desk upgraded us for free|"
            "the bed was so comfortable I slept ten hours|it's a short walk from the beach|"
            "the staff remembered our names|they left fresh cookies in the room every night"
        ),
        L(
            "the sheets were stained|the air conditioning never worked|"
            "we could hear the street noise all night|there was mold in the shower|"
            "the wifi dropped every few minutes|they lost our reservation|"
            'the so-called "deluxe" room was smaller than a closet'
        ),
        L(
            "We stayed here for three nights.|Booked this for a work trip.|"
            "We spent our honeymoon here.|I stayed here during a conference.|"
            "We stopped here for one night on a road trip."
        ),
        L(
            "I'd stay here again in a heartbeat.|Already booked our next trip.|"
            "Highly recommend for families.|Worth every penny."
        ),
        L(
            "I'll be booking elsewhere next time.|Stay anywhere else.|Not worth the money.|"
            "We checked out a day early."
        ),
    ),
    Domain(  # books
        L(
            "this book|the novel|this memoir|this cookbook|the author's new novel|this mystery|"
            'the biography|"A Winter of Small Lights"|this short story collection|the trilogy'
        ),
        L("book|novel|memoir|mystery|biography|read|trilogy"),
        L(
            "the writing|the main character|the plot|the ending|the prose|the dialogue|"
            "the world-building|the translation|the pacing|the final chapter|the narrator"
        ),
        L(
            "I couldn't put it down|I finished it in a single weekend|"
            "it stayed with me long after the last page|every chapter ends on a hook|"
            "I've already lent it to three friends"
        ),
        L(
            "I had to force myself to finish it|I gave up after a few chapters|"
            "nothing happens for the first two hundred pages|the twist was obvious from page ten|"
            "the characters all sound exactly the same"
        ),
        L(
            "I picked this up at the airport.|Our book club chose this for March.|"
            "I read this on vacation.|I listened to the audiobook version."
        ),
        L("I'll read everything this author writes.|A must-read.|Already started the sequel."),
        L("Don't waste your time on it.|I'm donating my copy.|I want my weekend back."),
    ),
    Domain(  # apps
        L(
            "this app|the update|the new version|this game|the budgeting app|this photo editor|"
            "the meditation app|this music app|the banking app"
        ),
        L("app|game|update|editor"),
        L(
            "the interface|the design|the latest update|the notification system|the login process|"
            "the search feature|the subscription|the offline mode|the dark mode|the sync feature"
        ),
        L(
            "it syncs flawlessly across all my devices|it has made my mornings so much easier|"
            "setup took less than a minute|it runs smoothly even on my old phone|"
            "the developers actually listen to feedback"
        ),
        L(
            "it crashes every time I open it|it drains my battery in a few hours|"
            "it keeps logging me out|the latest update deleted all my data|"
            "it's full of intrusive ads|support never answered my emails"
        ),
        L(
            "I've been using this for a month.|Downloaded this on a friend's recommendation.|"
            "Switched to this from a competitor.|I use this every day at work."
        ),
        L("Five stars from me.|Worth the subscription.|Can't imagine my phone without it."),
        L("Uninstalled.|Deleting it today.|One star is too generous."),
    ),
]

POS_ADJ = L(
    "great|excellent|wonderful|fantastic|superb|brilliant|outstanding|impressive|lovely|"
    "terrific|solid|enjoyable|pleasant|remarkable|stellar|top-notch|fabulous|amazing|"
    "perfect|good|delightful|first-rate"
)
NEG_ADJ = L(
    "terrible|awful|dreadful|disappointing|mediocre|dull|bland|sloppy|poor|frustrating|"
    "lousy|underwhelming|subpar|tedious|horrible|pathetic|bad|weak|abysmal|lackluster|"
    "painful|forgettable"
)
SOFT_POS = L("great|good|impressive|memorable|enjoyable|pleasant|special|perfect")
SOFT_NEG = L("bad|disappointing|dull|bland|mediocre|boring|terrible|awful|weak|sloppy")
INTENSIFIERS = (
    L("really|truly|absolutely|incredibly|genuinely|remarkably|pretty|extremely|surprisingly|so|quite")
    + [""] * 8
)
SHORT_INTENSIFIERS = INTENSIFIERS[:9]  # the ones that read well before "adjective noun"
VERBS = {
    "positive": L(
        "loved|enjoyed|adored|was blown away by|was impressed by|was delighted with|"
        "really liked|fell in love with|can't stop recommending"
    ),
    "negative": L(
        "hated|disliked|was disappointed by|was let down by|couldn't stand|"
        "regret choosing|was fed up with|was annoyed by|can't recommend"
    ),
}
SHORT_VERBS = {"positive": L("Loved|Adored|Enjoyed"), "negative": L("Hated|Disliked|Regretted")}
LEAD_INS = L(
    "Honestly,|To be honest,|Overall,|All in all,|I have to say|In short,|Frankly,|"
    "For what it's worth,|Simply put,"
)
GENERIC_CLOSERS = {
    "positive": L(
        "Highly recommended.|Ten out of ten.|Can't wait to come back to it.|"
        "I'll be telling all my friends.|No regrets at all."
    ),
    "negative": L(
        "Avoid.|Save your money.|Would not recommend.|What a letdown.|Two stars, and that's generous."
    ),
}
SHORT_FIXED = {
    "positive": L(
        "Not bad at all.|Worth every penny.|Would recommend.|Can't complain.|"
        "Exceeded my expectations.|Pleasantly surprised."
    ),
    "negative": L(
        "Not worth it.|Total waste of money.|Would not recommend.|Never again.|"
        "Not impressed.|Deeply disappointing experience."
    ),
}
NEGATED = {  # clause meaning `label` whose surface uses words of the opposite polarity
    "positive": L(
        "{aspect} wasn't {sneg} at all|{aspect} was not {sneg} in the slightest|"
        "{aspect} was anything but {sneg}|{subject} did not disappoint|"
        "I had no complaints about {aspect}|I couldn't have been happier with {subject}|"
        "I can't think of a single thing I didn't like about {subject}|"
        "nothing about {aspect} felt {sneg}|I never once regretted choosing {subject}|"
        "I wasn't expecting much, but {subject} was {spos}"
    ),
    "negative": L(
        "{aspect} wasn't {spos}|{aspect} wasn't anything special|"
        "{subject} didn't live up to the hype|I didn't enjoy {subject} at all|"
        "I can't say I liked {subject}|{subject} was far from {spos}|"
        "{aspect} was not as {spos} as I had hoped|{subject} was not worth the money|"
        "I wouldn't recommend {subject} to anyone|there was nothing {spos} about {aspect}"
    ),
}
CONTRAST = L(
    "{A}, but {b}.|Although {a}, {b}.|{A}. However, {b}.|{A}, yet {b}.|"
    "Sure, {a}, but {b}.|While {a}, {b}.|Even though {a}, {b}.|{A}. That said, {b}.|"
    "{A}; {conn}, {b}."
)
CONNECTORS = {
    "positive": L("thankfully|luckily|fortunately"),
    "negative": L("unfortunately|sadly|regrettably"),
}
ASIDES = {
    "positive": L("the only downside was that {c}|my one complaint is that {c}"),
    "negative": L("the only good thing was that {c}|to be fair, {c}"),
}


def adjective(rng: random.Random, label: str) -> str:
    """An optionally intensified adjective of the label's polarity: "truly superb"."""
    adj = rng.choice(POS_ADJ if label == "positive" else NEG_ADJ)
    return f"{rng.choice(INTENSIFIERS)} {adj}".strip()


ASPECT_KINDS = {"aspect": 4, "fact": 3}
ALL_KINDS = {"aspect": 4, "subject": 2, "verb": 2, "fact": 3}


def plain_clause(rng: random.Random, d: Domain, label: str, kinds: dict[str, int] = ALL_KINDS) -> str:
    """A lower-case clause that states the label's polarity directly."""
    kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
    if kind == "aspect":
        return f"{rng.choice(d.aspects)} {rng.choice(['was', 'was', 'is'])} {adjective(rng, label)}"
    if kind == "subject":
        return f"{rng.choice(d.subjects)} {rng.choice(['was', 'is'])} {adjective(rng, label)}"
    if kind == "verb":
        verb = rng.choice(VERBS[label])
        who = "I" if verb.startswith("was ") or rng.random() < 0.6 else "we"
        return f"{who} {verb} {rng.choice(d.subjects)}"
    return rng.choice(d.facts(label))


def negated_clause(rng: random.Random, d: Domain, label: str, aspect_only: bool = False) -> str:
    """A clause meaning ``label`` built by negating a word of the opposite polarity."""
    forms = [f for f in NEGATED[label] if not (aspect_only and "{subject}" in f)]
    return rng.choice(forms).format(
        aspect=rng.choice(d.aspects),
        subject=rng.choice(d.subjects),
        spos=rng.choice(SOFT_POS),
        sneg=rng.choice(SOFT_NEG),
    )


def any_clause(rng: random.Random, d: Domain, label: str, aspect_only: bool = False) -> str:
    """Mostly a plain clause, sometimes a negated one; ``aspect_only`` keeps it to one aspect."""
    if rng.random() < 0.2:
        return negated_clause(rng, d, label, aspect_only)
    return plain_clause(rng, d, label, ASPECT_KINDS if aspect_only else ALL_KINDS)


def closer(rng: random.Random, d: Domain, label: str) -> str:
    """A closing sentence of the label's polarity ("Never again.")."""
    return rng.choice(d.closers(label) + GENERIC_CLOSERS[label])


def plain_review(rng: random.Random, d: Domain, label: str, clause: Callable[..., str] = plain_clause) -> str:
    """One or two clauses of one polarity, with an optional lead-in, opener and closer."""
    body = clause(rng, d, label)
    if rng.random() < 0.45:
        joiner = rng.choice([" and ", ", and ", ", and honestly ", ", plus "])
        second = plain_clause(rng, d, label, ASPECT_KINDS)
        while second == body:
            second = plain_clause(rng, d, label, ASPECT_KINDS)
        body += joiner + second
    if rng.random() < 0.25:
        body = f"{rng.choice(LEAD_INS)} {body}"
    text = cap(body) + rng.choice([".", ".", ".", "!"])
    if rng.random() < 0.3:
        text = f"{rng.choice(d.openers)} {text}"
    if rng.random() < 0.3:
        text += " " + closer(rng, d, label)
    return text


def negated_review(rng: random.Random, d: Domain, label: str) -> str:
    """A review whose main clause is a negation (a hard case for bag-of-words models)."""
    return plain_review(rng, d, label, clause=negated_clause)


def contrast_review(rng: random.Random, d: Domain, label: str) -> str:
    """Contrast ("A, but B"): an aspect of the other polarity, then the clause the label follows."""
    a, b = any_clause(rng, d, flip(label), aspect_only=True), any_clause(rng, d, label)
    return cap(rng.choice(CONTRAST).format(A=cap(a), a=a, b=b, conn=rng.choice(CONNECTORS[label])))


def short_review(rng: random.Random, d: Domain, label: str) -> str:
    """A terse three-to-five word review."""
    noun, aspect = rng.choice(d.nouns), rng.choice(d.aspects)
    adj = rng.choice(POS_ADJ if label == "positive" else NEG_ADJ)
    forms = [
        f"{cap(rng.choice(SHORT_INTENSIFIERS))} {adj} {noun}.",
        f"{rng.choice(SHORT_VERBS[label])} this {noun}{rng.choice(['.', '!'])}",
        f"{cap(aspect.removeprefix('the '))} was {adj}.",
        f"{cap(aspect)} was {adjective(rng, label)}.",
        f"{cap(adj)} {noun}, {rng.choice(POS_ADJ if label == 'positive' else NEG_ADJ)} "
        f"{aspect.removeprefix('the ')}.",
        rng.choice(SHORT_FIXED[label]),
    ]
    return rng.choice(forms)


def long_review(rng: random.Random, d: Domain, label: str) -> str:
    """A multi-sentence review: opener, several same-polarity sentences, an aside, a closer."""
    parts = [rng.choice(d.openers)]
    for _ in range(rng.randint(3, 5)):
        sentence = cap(any_clause(rng, d, label)) + "."
        if sentence not in parts:
            parts.append(sentence)
    if rng.random() < 0.5:  # a minor point of the other polarity, always about one aspect
        aside = rng.choice(ASIDES[label]).format(c=plain_clause(rng, d, flip(label), {"aspect": 1}))
        parts.insert(rng.randint(2, len(parts)), cap(aside) + ".")
    parts.append(closer(rng, d, label))
    return " ".join(parts)


SENTIMENT_KINDS: dict[Callable[[random.Random, Domain, str], str], int] = {  # kind -> weight
    plain_review: 51,
    negated_review: 14,
    contrast_review: 20,
    short_review: 7,
    long_review: 8,
}


def sentiment_text(rng: random.Random, label: str) -> str:
    """One English review with the given label, 3 to 80 words long."""
    while True:
        domain = rng.choice(DOMAINS)  # one subject per review keeps it about one thing
        domain = replace(domain, subjects=[rng.choice(domain.subjects)])
        make = rng.choices(list(SENTIMENT_KINDS), weights=list(SENTIMENT_KINDS.values()))[0]
        text = make(rng, domain, label)
        text = re.sub(r"\s+", " ", text).strip()
        if 3 <= len(text.split()) <= 80:
            return text


# == English topics =============================================================================
TOPIC_SLOTS: dict[str, list[str]] = {
    "team": L(
        "the Rovers|City|the Falcons|United|the Tigers|the Mariners|Real Norte|the Hawks|"
        "the Giants|Atletico Sur|the Wolves|the Comets|the Harbor Kings|Westbrook FC"
    ),
    "athlete": L(
        "Maria Santos|Kenji Watanabe|Liam O'Connor|Amara Okafor|Lucas Moreau|"
        "Sofia Rossi|Jamal Carter|Elena Petrova|Tomas Novak|Priya Nair"
    ),
    "sport": L("tennis|football|basketball|cricket|rugby|cycling|swimming|golf|hockey|athletics"),
    "tournament": L(
        "the Open|the World Cup|the national championship|the league final|"
        "the Olympic trials|the cup semifinal|the continental championship"
    ),
    "event": L("100m|400m|1500m|200m freestyle|marathon|high jump|pole vault"),
    "score": L("2-1|3-0|1-0|4-2|3-2|2-0|5-1"),
    "num": L("two|three|four|five|six|seven|ten|twelve"),
    "company": L(
        "Northwind Corp|Apex Motors|BlueRiver Bank|Helix Pharma|Orion Retail|"
        "Vantage Airlines|Kestrel Energy|Summit Foods|Nimbus Software|Ironclad Steel"
    ),
    "pct": L("3%|5%|8%|12%|15%|20%"),
    "bn": L("1.2|2.5|4|7.8|12|30"),
    "commodity": L("Oil|Gold|Copper|Wheat|Coffee|Natural gas|Steel"),
    "move": L("rise|fall|climb|slump|surge|slide"),
    "reason": L(
        "demand weakens|supply tightens|investors seek safety|the dollar strengthens|"
        "inventories swell|factories slow down"
    ),
    "market": L("Asian|European|online|holiday|North American"),
    "country": L("France|Brazil|India|Kenya|Japan|Canada|Mexico|Poland|Indonesia|Australia"),
    "scientists": L(
        "Researchers|Scientists|Astronomers|Biologists|Physicists|Geologists|"
        "Neuroscientists|Marine biologists|Chemists"
    ),
    "discovery": L(
        "a new species of frog|ancient bacteria|a fossil of an early bird|"
        "microplastics in fresh snow|a new antibiotic in soil samples|"
        "a hidden lake beneath the ice|a buried forest|a giant meteorite crater"
    ),
    "place": L("the Arctic|Antarctica|Greenland|Siberia|the Alps|the Andes|Patagonia|the Himalayas"),
    "wildlife": L("snow leopards|reindeer herds|migrating geese|wolves|polar bears"),
    "agency": L("NASA|The European Space Agency|ISRO|JAXA"),
    "target": L("Mars|Jupiter's moons|Venus|a near-Earth asteroid|the Sun|Saturn's rings"),
    "habit": L(
        "daily walking|a Mediterranean diet|poor sleep|air pollution|regular reading|"
        "screen time|coffee drinking"
    ),
    "risk": L("higher|lower|no extra"),
    "disease": L("dementia|heart disease|diabetes|asthma|depression|malaria|tuberculosis"),
    "material": L(
        "a self-healing plastic|a battery that charges in seconds|"
        "a coating that repels water|a lighter form of steel|an ultra-thin solar cell"
    ),
    "animal": L("the woolly mammoth|honeybees|the giant squid|octopuses|dinosaurs|wolves"),
    "politician": L(
        "The prime minister|The president|Senator Hale|Governor Ruiz|"
        "The opposition leader|The foreign minister|Mayor Lindqvist|The chancellor"
    ),
    "body": L(
        "Parliament|The Senate|Congress|The city council|The cabinet|The legislature|"
        "The House|The regional assembly"
    ),
    "issue": L(
        "immigration|healthcare|tax|pension|election|education|housing|policing|voting rights|defense"
    ),
    "field": L("cancer|climate|space|quantum computing|vaccine|ocean"),
}

TOPIC_TEMPLATES: dict[str, list[str]] = {
    "sports": L(
        "{team} beat {team} {score} to reach {tournament}|"
        "{athlete} breaks world record in the {event} final|"
        "{athlete} withdraws from {tournament} with knee injury|"
        "{team} sign striker from {team} on three-year contract|"
        "Coach of {team} sacked after {num} straight defeats|"
        "{athlete} claims first {sport} title of the season|"
        "{team} fans celebrate first championship in {num} years|"
        "{team} and {team} draw {score} in rain-soaked derby|"
        "{athlete} announces retirement from professional {sport}|"
        "Late goal lifts {team} past {team}|"
        "{athlete} leads {tournament} after opening round|"
        "{team} stay top of the table after {score} win over {team}|"
        "{team} agree transfer deal for {athlete}|"
        "{team} owner promises to freeze ticket prices next season|"
        "Record crowd watches {team} win {tournament}|"
        "{athlete} wins gold in the {event} at {tournament}|"
        "{athlete} signs record endorsement deal with {company}|"
        "{politician} congratulates {team} on historic {score} victory|"
        "{company} extends shirt sponsorship of {team} for {num} years|"
        "{country} wins vote to host {tournament}|"
        "{team} defender banned for {num} games after failed drug test"
    ),
    "business": L(
        "{company} shares jump {pct} after strong quarterly earnings|"
        "{company} to buy {company} in {bn} billion dollar deal|"
        "{company} cuts {num} hundred jobs in restructuring plan|"
        "{commodity} prices {move} as {reason}|"
        "Stock markets {move} as {reason}|"
        "{company} posts record profit on strong {market} sales|"
        "{company} chief executive steps down after {num} years|"
        "{company} opens new factory in {country}|"
        "{company} unveils plan to expand into {country}|"
        "Investors cheer as {company} beats revenue forecasts|"
        "{company} faces shareholder revolt over executive pay|"
        "{company} signs sponsorship deal with {team}|"
        "{company} wins government contract worth {bn} billion|"
        "{company} invests in {field} technology startup|"
        "{company} recalls {num} thousand cars over brake fault|"
        "Central bank in {country} raises interest rates by a quarter point|"
        "{company} shares fall after {athlete} ends endorsement deal|"
        "{company} profits hit by new {issue} rules|"
        "Markets rally as {politician} wins election in {country}|"
        "{company} stock soars after successful {target} mission|"
        "{company} funds {field} research at top university|"
        "{company} buys stake in {team} for {bn} billion"
    ),
    "science": L(
        "{scientists} discover {discovery} in {place}|"
        "{agency} launches probe to study {target}|"
        "Study links {habit} to {risk} risk of {disease}|"
        "New telescope images reveal storms on {target}|"
        "{scientists} create {material}|"
        "Clinical trial shows promise for {disease} treatment|"
        "Fossil find in {place} rewrites history of {animal}|"
        "{scientists} sequence the genome of {animal}|"
        "Satellite data shows ice in {place} melting faster than expected|"
        "{scientists} observe rare particle decay for the first time|"
        "Vaccine for {disease} enters final phase of testing|"
        "Record temperatures measured in {place}, {scientists} say|"
        "Study finds concussions common among young {sport} players|"
        "{scientists} win funding for new {field} laboratory|"
        "{scientists} track {wildlife} across {place}|"
        "Lab experiment suggests {habit} changes brain activity|"
        "{scientists} explain why {athlete} runs so efficiently|"
        "{agency} budget cut threatens {target} mission|"
        "{scientists} warn {body} about rapid ice loss in {place}|"
        "{company} engineers develop {material}|"
        "{scientists} measure economic cost of {habit} in {country}"
    ),
    "politics": L(
        "{body} passes {issue} bill after heated debate|"
        "{politician} wins re-election in landslide|"
        "{politician} faces calls to resign over {issue} scandal|"
        "{country} holds snap election amid {issue} crisis|"
        "{body} rejects {issue} reform in close vote|"
        "{politician} meets {country} leader for trade talks|"
        "Protesters rally outside parliament over {issue} cuts|"
        "Opposition demands inquiry into {issue} spending|"
        "{politician} unveils {issue} plan ahead of election|"
        "Polls show tight race as {country} votes on {issue}|"
        "{country} and {country} sign border agreement|"
        "{body} approves budget with new {issue} funding|"
        "{body} votes to fund new stadium for {team}|"
        "{politician} pledges to cut corporate tax rates|"
        "Government boosts funding for {field} research|"
        "{politician} vetoes {issue} bill passed by {body}|"
        "{body} investigates {company} over {issue} claims|"
        "{politician} attends {tournament} final amid protests|"
        "{politician} questions {agency} spending on {target} mission|"
        "{body} debates smartphone ban in {country} schools|"
        "{politician} criticizes {company} over job cuts in {country}"
    ),
}


def fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    """Replace each ``{slot}`` with a value; repeated slots get distinct values."""
    names = re.findall(r"\{(\w+)\}", template)
    picks = {n: rng.sample(slots[n], names.count(n)) for n in dict.fromkeys(names)}
    return re.sub(r"\{(\w+)\}", lambda m: picks[m.group(1)].pop(), template)


# Shared headline frames: the class lives only in the actor and the thing, and actors are
# sometimes neutral, so a model has to learn the topic vocabulary, not the template.
TOPIC_FRAMES = L(
    "{actor} to unveil plans for {thing}|{actor} under fire over {thing}|"
    "{actor} set to announce {thing} next week|{actor} to review {thing} after criticism|"
    "{actor} pushing ahead with {thing}|Questions grow over {thing}|"
    "Inside the fight over {thing}|Five things to know about {thing}|"
    "{actor} split over {thing}|{actor} in talks over {thing}|"
    "{actor}: {thing} will go ahead|Cost of {thing} doubles|{actor} warned over {thing}"
)
NEUTRAL_ACTORS = L("{country}|Officials|Critics|Experts|Insiders|Campaigners|Local leaders")
TOPIC_ACTORS = {
    "sports": L(
        "{team}|{athlete}|League officials|The football association|The Olympic committee|Club owners"
    ),
    "business": L("{company}|Investors|Analysts|Shareholders|Bankers|The chamber of commerce"),
    "science": L("{scientists}|{agency}|University researchers|The science academy|Health experts"),
    "politics": L("{politician}|{body}|Voters|Ministers|The governing party|Opposition parties"),
}
TOPIC_THINGS = {
    "sports": L(
        "the new stadium|the transfer window|the title race|a world record attempt|"
        "the new season schedule|stricter doping rules|the youth academy|the league expansion|"
        "the broadcast rights deal|the coaching shake-up|the club's record signing|"
        "the World Cup bid|the playoff format|the Olympic team selection|video replay rules|"
        "the marathon route|the cup draw"
    ),
    "business": L(
        "the merger with a rival|record quarterly profits|the planned job cuts|"
        "higher fuel prices|the expansion into Asia|the takeover bid|a new factory|"
        "the dividend increase|executive bonuses|the supply chain overhaul|"
        "the interest rate decision|the stock market listing|a product recall|"
        "the pension fund losses|the airline's new routes|the retail price war"
    ),
    "science": L(
        "the Mars mission|the vaccine trial|the new climate model|the telescope upgrade|"
        "gene therapy research|the fusion experiment|the deep-sea survey|"
        "the particle collider upgrade|record ocean temperatures|"
        "the asteroid sample|the brain mapping project|the new antibiotic|"
        "the quantum computer prototype|the bird flu study|the lunar base design"
    ),
    "politics": L(
        "the election campaign|tax reform|the immigration bill|the cabinet reshuffle|"
        "the budget vote|the peace talks|the coalition deal|healthcare reform|"
        "new voting rules|the defense budget|the leadership race|"
        "the corruption inquiry|the border dispute|the referendum|"
        "the minimum wage increase"
    ),
}


SHARED_THINGS = {  # the same words under two topics: the genuinely ambiguous headlines
    "the stadium funding vote": ("sports", "politics"),
    "the broadcast rights deal": ("sports", "business"),
    "the satellite launch": ("science", "business"),
    "the trade agreement": ("politics", "business"),
    "the new research budget": ("science", "politics"),
    "the doping scandal": ("sports", "politics"),
    "the energy price crisis": ("business", "politics"),
    "the record heat wave": ("science", "politics"),
    "the drug pricing row": ("business", "politics"),
    "the concussion study": ("science", "sports"),
    "the Olympic bid": ("sports", "politics"),
    "the electric car subsidy": ("business", "politics"),
    "the sports science lab": ("science", "sports"),
    "the battery breakthrough": ("science", "business"),
    "the new data privacy rules": ("business", "politics"),
    "the pandemic response": ("science", "politics"),
}


def topic_text(rng: random.Random, label: str) -> str:
    """One headline-like sentence about ``label``: a class template or a shared frame."""
    if rng.random() < 0.5:
        return cap(fill(rng.choice(TOPIC_TEMPLATES[label]), TOPIC_SLOTS, rng))
    actors = NEUTRAL_ACTORS if rng.random() < 0.6 else TOPIC_ACTORS[label]
    things = TOPIC_THINGS[label] + [t for t, labels in SHARED_THINGS.items() if label in labels]
    slots = {**TOPIC_SLOTS, "actor": actors, "thing": things}
    frame = fill(rng.choice(TOPIC_FRAMES), slots, rng)
    return cap(fill(frame, TOPIC_SLOTS, rng))  # actors may hold slots themselves


# == Chinese sentiment ==========================================================================
@dataclass(frozen=True)
class ZhDomain:
    """One review domain in Chinese: aspects with their good and bad predicates."""

    subjects: list[str]
    aspects: dict[str, tuple[list[str], list[str]]]  # aspect -> (good adjectives, bad adjectives)
    pos_facts: list[str]
    neg_facts: list[str]
    openers: list[str]
    pos_closers: list[str]
    neg_closers: list[str]


def A(good: str, bad: str) -> tuple[list[str], list[str]]:
    return L(good), L(bad)


ZH_DOMAINS: list[ZhDomain] = [
    ZhDomain(  # restaurants
        L("这家餐厅|这家店|这家火锅店|这家面馆|这家咖啡馆|楼下的小饭馆|这家烧烤店"),
        {
            "味道": A("好|正宗|鲜美|地道", "差|一般|奇怪|寡淡"),
            "菜品": A("新鲜|精致|丰富", "难吃|油腻|粗糙"),
            "服务": A("周到|热情|贴心", "差|冷淡|敷衍"),
            "环境": A("干净|优雅|舒适", "嘈杂|脏|拥挤"),
            "价格": A("实惠|公道|合理", "贵|离谱|坑人"),
            "上菜速度": A("快|及时", "慢|拖拉"),
        },
        L("吃完还想再来|服务员一直面带微笑|上菜很快，分量也足|老板还送了我们一份甜点|每道菜都很有特色"),
        L("等了一个小时才上菜|吃完肚子就难受了|菜里居然有头发|服务员把我们的菜上错了|结账时多收了钱"),
        L("周末和家人来吃饭，|朋友推荐来的，|中午点了外卖，|第一次来这家店，"),
        L("下次还会再来！|强烈推荐！|五星好评！|值得一去。"),
        L("再也不会来了。|差评！|大家别来了。|太失望了。"),
    ),
    ZhDomain(  # hotels
        L("这家酒店|这家民宿|这家宾馆|这次住的酒店|海边的这家度假村"),
        {
            "房间": A("干净|宽敞|整洁", "脏|小|潮湿"),
            "床": A("舒服|柔软", "硬|窄"),
            "前台": A("热情|专业|耐心", "冷漠|傲慢|敷衍"),
            "位置": A("方便|优越", "偏僻|难找"),
            "早餐": A("丰盛|可口", "单调|难吃"),
            "隔音": A("好|出色", "差|糟糕"),
            "卫生间": A("干净|明亮", "脏|简陋"),
        },
        L("一进房间就闻到淡淡的清香|前台免费给我们升级了房型|晚上睡得特别香|窗外就能看到大海|退房手续很快"),
        L("半夜隔壁吵得睡不着|空调一直是坏的|床单上有污渍|热水时有时无|卫生间有一股霉味"),
        L("出差住了两晚，|带孩子来旅游住的，|国庆假期住了三天，|第一次住这家，"),
        L("下次还会入住！|推荐给大家。|非常满意！|性价比很高。"),
        L("再也不会住了。|差评！|千万别订。|太失望了。"),
    ),
    ZhDomain(  # products
        L("这款手机|这个耳机|这台电脑|这个充电宝|这款吹风机|这个电饭煲|这件衣服|这个保温杯"),
        {
            "质量": A("好|过硬", "差|一般"),
            "做工": A("精细|扎实", "粗糙|廉价"),
            "续航": A("长|持久", "短|差"),
            "音质": A("清晰|饱满", "差|刺耳"),
            "外观": A("漂亮|时尚|大气", "丑|土气"),
            "物流": A("快|及时", "慢|拖拉"),
            "客服": A("耐心|专业", "敷衍|冷淡"),
            "性价比": A("高", "低"),
        },
        L("用了一个月还跟新的一样|第二天就收到货了|包装很用心|家里人都说好用|比实体店便宜很多"),
        L(
            "用了三天就坏了|收到的时候外壳有裂痕|充一次电只能用两个小时|申请退货一直没人处理|和图片完全是两个东西"
        ),
        L("用了一个月了，|给爸妈买的，|双十一买的，|第二次购买了，"),
        L("物超所值！|会回购的。|推荐购买。|五星好评！"),
        L("已经申请退货了。|差评！|千万别买。|浪费钱。"),
    ),
    ZhDomain(  # films
        L("这部电影|这部片子|这部剧|这部动画片|这部纪录片|《流浪星球》|《长夜》"),
        {
            "剧情": A("精彩|紧凑|感人", "无聊|拖沓|老套"),
            "演技": A("出色|自然|在线", "尴尬|浮夸|生硬"),
            "画面": A("精美|震撼", "粗糙|廉价"),
            "配乐": A("动听|好听", "难听|吵闹"),
            "结局": A("感人|圆满", "仓促|草率"),
            "节奏": A("紧凑|流畅", "拖沓|混乱"),
        },
        L("全程没有尿点|看完久久不能平静|全场观众都在鼓掌|看了两遍还想看|笑得我肚子疼"),
        L("看到一半就睡着了|旁边的人都提前走了|两个小时像熬了一整天|完全看不懂在讲什么|全是广告植入"),
        L("昨天去电影院看了，|和女朋友一起看的，|周末在家看的，|首映当天看的，"),
        L("值得一看！|强烈推荐！|五星好评！|还会再刷一遍。"),
        L("浪费时间。|差评！|别去看了。|太失望了。"),
    ),
]

ZH_DEGREE = L("很|非常|特别|超级|挺|相当|真的很|十分") + [""] * 2
ZH_GENERIC = {
    "positive": L("真的不错|总体很满意|非常值得|值得推荐|让人惊喜"),
    "negative": L("真的不怎么样|总体很失望|实在太差了|让人后悔|令人失望"),
}
ZH_VERBS = {
    "positive": L("我很喜欢{s}|我们对{s}非常满意|强烈推荐{s}|{s}真的没得说|{s}超出了我的预期"),
    "negative": L("我对{s}非常失望|我后悔选择了{s}|真受不了{s}|{s}让人很失望|{s}真的很坑"),
}
ZH_NEGATED = {  # meaning `label`, built from a predicate of the opposite polarity
    "positive": L(
        "{a}一点也不{bad}|{a}并不{bad}|{a}完全不{bad}|{s}没有让我失望|{a}没有任何问题|"
        "{s}的{a}还不错|没想到{s}的{a}这么{good}"
    ),
    "negative": L(
        "{a}一点也不{good}|{a}不太{good}|{a}没有想象中{good}|{a}并不{good}|"
        "{s}没有宣传的那么好|{s}的{a}不怎么样|{a}根本不{good}"
    ),
}
ZH_CONTRAST = L("虽然{a}，但是{b}|{a}，但是{b}|{a}，不过{b}|虽然{a}，可是{b}|尽管{a}，{b}|{a}，{conn}{b}")
ZH_CONNECTORS = {"positive": L("好在|幸好|还好"), "negative": L("可惜|遗憾的是|只可惜")}


ZH_ALL_KINDS = {"aspect": 4, "subject": 3, "verb": 2, "fact": 3, "generic": 1}
ZH_ASPECT_KINDS = {"aspect": 4, "subject": 3, "fact": 3}


def zh_clause(rng: random.Random, d: ZhDomain, label: str, kinds: dict[str, int] = ZH_ALL_KINDS) -> str:
    """A plain Chinese clause of the label's polarity."""
    aspect = rng.choice(list(d.aspects))
    good, bad = d.aspects[aspect]
    pred = rng.choice(ZH_DEGREE) + rng.choice(good if label == "positive" else bad)
    kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
    if kind == "aspect":
        return aspect + pred
    if kind == "subject":
        return f"{rng.choice(d.subjects)}的{aspect}{pred}"
    if kind == "verb":
        return rng.choice(ZH_VERBS[label]).format(s=rng.choice(d.subjects))
    if kind == "fact":
        return rng.choice(d.pos_facts if label == "positive" else d.neg_facts)
    return rng.choice(d.subjects) + rng.choice(ZH_GENERIC[label])


def zh_negated(rng: random.Random, d: ZhDomain, label: str) -> str:
    """A clause meaning ``label`` via 不/没有 and a predicate of the opposite polarity."""
    aspect = rng.choice(list(d.aspects))
    good, bad = d.aspects[aspect]
    return rng.choice(ZH_NEGATED[label]).format(
        a=aspect, s=rng.choice(d.subjects), good=rng.choice(good), bad=rng.choice(bad)
    )


def zh_text(rng: random.Random, label: str) -> str:
    """One Chinese review: plain, negated or contrastive, with optional opener and closer."""
    d = rng.choice(ZH_DOMAINS)
    d = replace(d, subjects=[rng.choice(d.subjects)])  # one subject per review
    kind = rng.choices(["plain", "negated", "contrast"], weights=[64, 16, 20])[0]
    if kind == "contrast":
        a = (
            zh_negated(rng, d, flip(label))
            if rng.random() < 0.2
            else zh_clause(rng, d, flip(label), ZH_ASPECT_KINDS)
        )
        body = rng.choice(ZH_CONTRAST).format(
            a=a, b=zh_clause(rng, d, label), conn=rng.choice(ZH_CONNECTORS[label])
        )
    else:
        body = (zh_negated if kind == "negated" else zh_clause)(rng, d, label)
        if rng.random() < 0.5:
            body += rng.choice(["，", "，而且", "，另外", "，"]) + zh_clause(rng, d, label, ZH_ASPECT_KINDS)
    text = body + rng.choice(["。", "。", "！"])
    if rng.random() < 0.3:
        text = rng.choice(d.openers) + text
    if rng.random() < (0.15 if kind == "contrast" else 0.35):
        text += rng.choice(d.pos_closers if label == "positive" else d.neg_closers)
    return text


# == multi-label support tickets ===============================================================
TICKET_TAGS: dict[str, list[str]] = {  # tag -> clauses that raise it (lower case, no full stop)
    "account": L(
        "I can't log in to my account|my password reset email never arrives|"
        "my account was locked after three login attempts|I want to change the email on my account|"
        "the two-factor code is never accepted|I can't sign in since yesterday|"
        "someone else seems to have access to my profile|please delete my account and my data|"
        "my username shows as taken although it is mine|the login page keeps saying my password is wrong"
    ),
    "billing": L(
        "I was charged twice this month|my invoice shows the wrong amount|"
        "my card was billed after I cancelled the subscription|the price on my bill went up without notice|"
        "I need a copy of my invoice for taxes|my payment keeps failing at checkout|"
        "there is a charge on my statement I don't recognise|the annual plan was billed as monthly|"
        "I want to update the credit card on file|the discount code was not applied to my bill"
    ),
    "bug": L(
        "the app crashes every time I open the settings|the page shows an error 500|"
        "the export button does nothing|the screen freezes when I upload a photo|"
        "the search results are always empty|the website is broken on my phone|"
        "notifications stopped working after the update|the dashboard never finishes loading|"
        "the sync feature loses my changes|the form throws an error when I press save"
    ),
    "delivery": L(
        "my package has not arrived yet|the tracking number doesn't work|"
        "the courier left the parcel at the wrong address|my order has been stuck in transit for two weeks|"
        "the box arrived damaged|only half of my order was delivered|"
        "the delivery date keeps moving|the parcel was marked delivered but I never got it|"
        "I need to change the shipping address of my order|the driver never showed up"
    ),
    "refund": L(
        "I want my money back|please refund my last order|I returned the item but got no refund yet|"
        "I was promised a refund two weeks ago|how long does a refund take|"
        "I'd like to return this and get reimbursed|the refund went to an old card|"
        "I only received a partial refund|please cancel my order and reimburse me|"
        "my return was accepted but the money never came back"
    ),
}
TICKET_OPENERS = (
    L(
        "Hi,|Hello support,|Hi team,|Good morning,|Hey,|Dear customer service,|Hello,|"
        "Quick question:|Urgent:|Order 48213:|Hi there,"
    )
    + [""] * 6
)
TICKET_JOINS = [". Also, ", ". On top of that, ", ", and ", ". Another thing: ", " and also ", ". Plus, "]
TICKET_CLOSERS = (
    L(
        "Thanks.|Please help.|Thanks in advance.|Can you look into this?|This is really frustrating.|"
        "Please fix this asap.|Regards, Sam|Cheers|Looking forward to your reply."
    )
    + [""] * 5
)
TICKET_SIZES = {1: 50, 2: 35, 3: 15}  # tags a ticket -> weight


def ticket(rng: random.Random) -> tuple[str, list[str]]:
    """One support ticket: one to three tags, a clause for each, optional greeting and sign-off."""
    k = rng.choices(list(TICKET_SIZES), weights=list(TICKET_SIZES.values()))[0]
    tags = rng.sample(sorted(TICKET_TAGS), k)
    body = rng.choice(TICKET_TAGS[tags[0]])
    for tag in tags[1:]:
        body += rng.choice(TICKET_JOINS) + rng.choice(TICKET_TAGS[tag])
    opener = rng.choice(TICKET_OPENERS)
    body = body if opener.endswith(",") else cap(body)  # "Hi, my package ..." / "Urgent: My package ..."
    text = f"{opener} {body}. {rng.choice(TICKET_CLOSERS)}".strip()
    return text, sorted(tags)


TICKET_SPLITS = {"train": 1000, "dev": 200, "test": 200}
TICKET_SEED = 4004


def build_tickets() -> dict[str, list[tuple[str, list[str]]]]:
    """Every split of ``tickets/``: no text shared anywhere."""
    rng = random.Random(TICKET_SEED)
    seen: set[str] = set()
    splits: dict[str, list[tuple[str, list[str]]]] = {}
    for split, n in TICKET_SPLITS.items():
        rows: list[tuple[str, list[str]]] = []
        while len(rows) < n:
            text, tags = ticket(rng)
            if normalize(text) not in seen:
                seen.add(normalize(text))
                rows.append((text, tags))
        splits[split] = rows
    return splits


def write_jsonl(path: Path, rows: list[tuple[str, list[str]]]) -> None:
    """One ``{"text": ..., "labels": [...]}`` object a line, UTF-8, ``\\n`` line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        for text, labels in rows:
            fh.write(json.dumps({"text": text, "labels": labels}, ensure_ascii=False) + "\n")


# == building, splitting, writing ===============================================================
@dataclass(frozen=True)
class DataSet:
    """A data set to generate: where it goes, its labels, split sizes per label, generator."""

    folder: str
    labels: list[str]
    per_label: dict[str, int]  # split -> rows per label
    generate: TextGenerator
    seed: int


DATASETS = [
    DataSet(
        "sentiment", ["positive", "negative"], {"train": 750, "dev": 150, "test": 150}, sentiment_text, 1001
    ),
    DataSet(
        "topics",
        ["sports", "business", "science", "politics"],
        {"train": 200, "dev": 50, "test": 50},
        topic_text,
        2002,
    ),
    DataSet("zh_sentiment", ["positive", "negative"], {"train": 200, "dev": 50, "test": 50}, zh_text, 3003),
]


def normalize(text: str) -> str:
    """The key two texts are compared by when deduplicating."""
    return text.strip().lower()


def unique_texts(gen: TextGenerator, rng: random.Random, label: str, count: int, seen: set[str]) -> list[str]:
    """``count`` new texts for ``label`` whose keys are not yet in ``seen`` (which is updated)."""
    texts: list[str] = []
    attempts = 0
    while len(texts) < count:
        attempts += 1
        if attempts > 200 * count:
            raise RuntimeError(f"could not generate {count} unique '{label}' texts; add templates")
        text = gen(rng, label)
        if normalize(text) not in seen:
            seen.add(normalize(text))
            texts.append(text)
    return texts


def build(ds: DataSet) -> dict[str, Rows]:
    """Generate every split of ``ds``: balanced labels, no text shared anywhere, shuffled."""
    rng = random.Random(ds.seed)
    seen: set[str] = set()
    splits: dict[str, Rows] = {split: [] for split in ds.per_label}
    for label in ds.labels:
        pool = unique_texts(ds.generate, rng, label, sum(ds.per_label.values()), seen)
        start = 0
        for split, n in ds.per_label.items():
            splits[split] += [(text, label) for text in pool[start : start + n]]
            start += n
    for rows in splits.values():
        rng.shuffle(rows)
    return splits


def write_csv(path: Path, rows: Rows) -> None:
    """UTF-8 (no BOM), ``\\n`` line endings, minimal quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main() -> None:
    for ds in DATASETS:
        for split, rows in build(ds).items():
            path = ROOT / ds.folder / f"{split}.csv"
            write_csv(path, rows)
            counts = Counter(label for _, label in rows)
            balance = ", ".join(f"{label}={counts[label]}" for label in ds.labels)
            print(f"{ds.folder}/{split}.csv: {len(rows)} rows ({balance})")
    for split, rows in build_tickets().items():
        write_jsonl(ROOT / "tickets" / f"{split}.jsonl", rows)
        counts = Counter(tag for _, tags in rows for tag in tags)
        sizes = Counter(len(tags) for _, tags in rows)
        print(
            f"tickets/{split}.jsonl: {len(rows)} rows ({', '.join(f'{t}={counts[t]}' for t in TICKET_TAGS)}; "
            f"{', '.join(f'{k} tags: {sizes[k]}' for k in sorted(sizes))})"
        )
    import sys

    sys.path.insert(0, str(ROOT))  # the NER generator is the module beside this file
    from generate_ner import write_ner

    write_ner(ROOT)


if __name__ == "__main__":
    main()
