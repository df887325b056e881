"""The offline presets: small BERTs built from scratch with a WordPiece tokenizer learned on the data.

``tiny-bert`` and ``small-bert`` need no download: the vocabulary is learned on (a sample of) the
training texts with the ``tokenizers`` library (CJK characters split one per token), cached by
the texts it was learned from, and a ``BertConfig`` of the preset's shape is initialised at random.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_lab.core import cache
from tui_lab.core.config import tomllib
from tui_lab.core.data.splits import label_map
from tui_lab.core.models.checkpoint import model_folder
from tui_lab.core.models.heads import HEADS


@dataclass(frozen=True)
class Preset:
    """The shape of a from-scratch BERT."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    learning_rate: float


PRESETS: dict[str, Preset] = {
    "tiny-bert": Preset(128, 2, 2, 512, 1e-3),
    "small-bert": Preset(256, 4, 4, 1024, 5e-4),
}


PRETRAINED_LEARNING_RATE = 3e-5


SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def is_preset(name: str) -> bool:
    """Whether ``name`` is one of the offline from-scratch presets."""
    return name.strip().lower() in PRESETS


def default_learning_rate(name: str) -> float:
    """The learning rate used when none is set: the preset's, or 3e-5 for a pretrained model.

    A masked LM a tui-lab run pretrained from a preset (``runs/<pretrain-run>`` or its
    ``best/``) keeps its preset's rate: it is as small as the preset, far from a hub model's size.
    """
    if is_preset(name):
        return PRESETS[name.lower()].learning_rate
    origin = _run_preset(name)
    return PRESETS[origin].learning_rate if origin else PRETRAINED_LEARNING_RATE


def _run_preset(name: str) -> str | None:
    """The preset a tui-lab pretraining run folder (or its checkpoint) started from, if any."""

    folder = Path(model_folder(name)).expanduser()
    for run_dir in (folder, folder.parent):
        config = run_dir / "config.toml"
        if config.is_file():
            try:
                model = tomllib.loads(config.read_text(encoding="utf-8")).get("model", {})
            except (OSError, tomllib.TOMLDecodeError):
                return None
            name = str(model.get("name", ""))
            return name.lower() if model.get("task") == "pretrain" and is_preset(name) else None
    return None


# -- tokenizers ----------------------------------------------------------------------------------
VOCAB_SAMPLE = 200_000  # texts the preset vocabulary is learned from, at most


# characters Python splits at but BERT deletes (control characters): removed before splitting
_NOT_SPACE = str.maketrans("", "", "\x0b\x0c\x1c\x1d\x1e\x1f\x85")


ALGORITHM_VERSION = 2  # bump when the vocabulary a given input yields changes (invalidates caches)


def vocab_sample(texts: list[str], limit: int = VOCAB_SAMPLE) -> list[str]:
    """The texts a preset vocabulary is learned from: all of them, or ``limit`` chosen by a fixed seed.

    The choice depends only on the number of texts (not on the run's seed or the process), and
    keeps file order, so the same data always gives the same sample.
    """
    if len(texts) <= limit:
        return list(texts)
    import numpy as np

    picked = np.sort(np.random.default_rng(0).choice(len(texts), size=limit, replace=False))
    return [texts[i] for i in picked.tolist()]


def count_words(texts: list[str]) -> Counter[str]:
    """Word counts after BERT normalisation and pre-tokenisation (CJK characters one word each).

    The same counts as normalising and pre-tokenising every text with ``tokenizers``, much
    faster: the texts are split at whitespace in one C-level pass (BERT splits there too), and
    only each distinct chunk goes through ``tokenizers``; a plain ASCII letters-and-digits chunk
    (most of them) is just lower-cased, which is all BERT would do to it.
    """
    normalizer, pre = _bert_components()
    chunks = Counter("\n".join(texts).translate(_NOT_SPACE).split())
    counts: Counter[str] = Counter()
    for chunk, n in chunks.items():
        if chunk.isascii() and chunk.isalnum():
            counts[chunk.lower()] += n
        else:
            for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(chunk)):
                counts[word] += n
    return counts


def _bert_components() -> tuple[Any, Any]:
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(
        lowercase=True, handle_chinese_chars=True, strip_accents=None, clean_text=True
    )
    return normalizer, pre_tokenizers.BertPreTokenizer()


def train_wordpiece(texts: list[str], vocab_size: int = 8000, max_length: int = 512) -> Any:
    """A BERT-style uncased WordPiece tokenizer whose vocabulary is learned from ``texts``.

    Normalisation and pre-tokenisation are the ``tokenizers`` library's BERT components (CJK
    characters become one word each). Words are counted over :func:`vocab_sample` (at most
    ``VOCAB_SAMPLE`` texts), and the vocabulary is learned by :func:`learn_wordpiece_vocab` rather
    than ``tokenizers.trainers.WordPieceTrainer``, whose result varies between processes because
    ids of continuing subwords follow hash-map order and break ties between merges
    (huggingface/tokenizers#1794, fix proposed in #2066); a run must be reproducible from its
    seed and resumable. Most callers want the cached :func:`preset_tokenizer`.

    Returns:
        A ``transformers`` fast tokenizer that ``save_pretrained`` writes and ``AutoTokenizer``
        (and so ``transformers.pipeline``) loads back.
    """
    return wrap_wordpiece(_learn_backend(vocab_sample(texts), vocab_size), max_length)


def _learn_backend(sample: list[str], vocab_size: int) -> Any:
    """The ``tokenizers.Tokenizer`` learned from ``sample`` (no sampling here)."""
    from tokenizers import Tokenizer, decoders, models, processors

    normalizer, pre = _bert_components()
    vocab = learn_wordpiece_vocab(count_words(sample), vocab_size, SPECIAL_TOKENS)
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def preset_tokenizer(texts: list[str], vocab_size: int = 8000, max_length: int = 512) -> Any:
    """:func:`train_wordpiece`, learned once per sample and vocabulary size, then cached.

    The cache key hashes the sampled texts, ``vocab_size`` and ``ALGORITHM_VERSION``; hits come
    from an in-process LRU (the lab's Dataset pane and its training run share one) or from
    ``<cache>/tokenizers/<key>.json`` (see :func:`tui_lab.core.cache.cache_dir`) across processes.
    """
    from tokenizers import Tokenizer

    sample = vocab_sample(texts)
    key = cache.text_key(sample, f"wordpiece-v{ALGORITHM_VERSION}", vocab_size)
    spec = cache.get_text("tokenizers", key, ".json")
    if spec is None:
        spec = _learn_backend(sample, vocab_size).to_str()
        cache.put_text("tokenizers", key, ".json", spec)
    return wrap_wordpiece(Tokenizer.from_str(spec), max_length)


def wrap_wordpiece(backend: Any, max_length: int) -> Any:
    """A ``tokenizers.Tokenizer`` built by :func:`train_wordpiece` as a ``transformers`` tokenizer."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=max_length,
        do_lower_case=True,
    )


def learn_wordpiece_vocab(word_counts: Counter[str], vocab_size: int, specials: list[str]) -> list[str]:
    """A WordPiece vocabulary by byte-pair merges over word counts, deterministically.

    Words start as characters (``h ##e ##l ##l ##o``); the most frequent adjacent pair is merged
    until the vocabulary is full, ties broken by the pair's text, so the same counts always give
    the same vocabulary in the same order.
    """
    words = [([w[0]] + ["##" + c for c in w[1:]], n) for w, n in sorted(word_counts.items()) if w]
    symbol_counts: Counter[str] = Counter()
    for syms, n in words:
        for sym in syms:
            symbol_counts[sym] += n
    room = max(vocab_size - len(specials), 0)
    alphabet = sorted(symbol_counts, key=lambda s: (-symbol_counts[s], s))[:room]
    vocab = list(specials) + sorted(alphabet)
    known = set(vocab)
    pairs: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, (syms, n) in enumerate(words):
        for pair in zip(syms, syms[1:]):
            pairs[pair] += n
            where[pair].add(i)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pairs.get(pair, 0) != -neg or -neg <= 0:
            continue  # a stale heap entry: the count changed since it was pushed
        a, b = pair
        merged = a + b[2:]
        if merged not in known:
            vocab.append(merged)
            known.add(merged)
        touched: set[tuple[str, str]] = set()
        for i in sorted(where.pop(pair, ())):
            syms, n = words[i]
            for old in zip(syms, syms[1:]):
                pairs[old] -= n
                touched.add(old)
            new = _merge_pair(syms, a, b, merged)
            for fresh in zip(new, new[1:]):
                pairs[fresh] += n
                where[fresh].add(i)
                touched.add(fresh)
            words[i] = (new, n)
        pairs.pop(pair, None)
        for p in sorted(touched):
            if pairs.get(p, 0) > 0:
                heapq.heappush(heap, (-pairs[p], p))
    return vocab


def _merge_pair(syms: list[str], a: str, b: str, merged: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(syms):
        if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
            out.append(merged)
            i += 2
        else:
            out.append(syms[i])
            i += 1
    return out


# -- models --------------------------------------------------------------------------------------
def build_preset(
    name: str,
    tokenizer: Any,
    label_names: list[str],
    max_length: int,
    problem_type: str | None = None,
    head: str = "sequence",
    overrides: dict[str, Any] | None = None,
) -> Any:
    """A randomly initialised ``BertForSequenceClassification`` (or the ``head``'s class) of a preset's
    shape; ``overrides`` are further ``BertConfig`` values (the dropouts)."""
    import transformers
    from transformers import BertConfig

    p = PRESETS[name.lower()]
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=p.hidden_size,
        num_hidden_layers=p.num_hidden_layers,
        num_attention_heads=p.num_attention_heads,
        intermediate_size=p.intermediate_size,
        max_position_embeddings=max(512, max_length),
        pad_token_id=tokenizer.pad_token_id,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id=label_map(label_names),
        problem_type=problem_type,
        **(overrides or {}),
    )
    config._attn_implementation = "sdpa"
    return getattr(transformers, HEADS[head][0])(config)
