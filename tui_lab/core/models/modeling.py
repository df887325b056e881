"""Building the tokenizer and the classifier: offline presets or any Hugging Face model.

The presets (``tiny-bert``, ``small-bert``) are small BERTs built from scratch with a WordPiece
tokenizer trained on the training texts (the ``tokenizers`` library; CJK characters are split
one per token), so they need no download. Any other name is a Hugging Face model id or a local
folder and goes through ``AutoTokenizer`` / ``AutoModelForSequenceClassification``.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_lab.core import cache, hub
from tui_lab.core.config import tomllib
from tui_lab.core.data.splits import label_map
from tui_lab.core.errors import ConfigError, ModelError, setting_ref
from tui_lab.core.models import checkpoint


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
# a folder with config.json needs one of these for its tokenizer to load
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")  # never loaded (they could run code)
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# a task's head -> (the presets' BERT class, the Auto class of hub models and saved folders)
HEADS: dict[str, tuple[str, str]] = {
    "sequence": ("BertForSequenceClassification", "AutoModelForSequenceClassification"),
    "token": ("BertForTokenClassification", "AutoModelForTokenClassification"),
    "mlm": ("BertForMaskedLM", "AutoModelForMaskedLM"),
}


def head_of(model_config: Any) -> str:
    """The head of a saved model, from its ``architectures`` (``"sequence"`` when unknown)."""
    archs = getattr(model_config, "architectures", None) or []
    return next((h for h, (bert, _) in HEADS.items() for a in archs if a.endswith(bert[4:])), "sequence")


def auto_class(head: str) -> Any:
    """The transformers Auto class that loads a model with this head."""
    import transformers

    return getattr(transformers, HEADS[head][1])


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


def model_folder(name: str) -> str:
    """A run folder given as a model stands for its ``best/`` (else ``last/``); other names pass."""

    path = Path(name).expanduser()
    if path.is_dir() and not (path / "config.json").exists():
        for sub in ("best", "last"):
            found = checkpoint.resolve(path / sub)
            if found is not None:
                return str(found)
    return name


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
) -> Any:
    """A randomly initialised ``BertForSequenceClassification`` (or the ``head``'s class) of a preset's shape."""
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
    )
    config._attn_implementation = "sdpa"
    return getattr(transformers, HEADS[head][0])(config)


def load_pretrained(
    name: str,
    label_names: list[str],
    max_length: int,
    trust_remote_code: bool = False,
    dtype: Any = "float32",
    problem_type: str | None = None,
    head: str = "sequence",
) -> tuple[Any, Any]:
    """Tokenizer and classifier from a hub id or a local folder, with a new head for our labels.

    A model whose head already has exactly these labels keeps it; any other head (or none) is
    replaced by a freshly initialised one of the right size. The weights are loaded in fp32 for
    training whatever dtype they were saved in (transformers 5 otherwise keeps a bf16 or fp16
    checkpoint's dtype, and the optimizer would then step half-precision master weights);
    mixed precision comes from autocast, not from the stored weights.

    Args:
        dtype: the parameters' dtype (a torch dtype or its name; ``"auto"`` keeps the saved one).

    Raises:
        ModelError: the model cannot be found or loaded.
        ConfigError: ``max_length`` is above what the model can take.
    """
    config = auto_config(name, trust_remote_code)
    tokenizer = load_tokenizer(name, trust_remote_code)
    check_positions(name, config, max_length)
    same_head = [config.id2label.get(i) for i in range(len(config.id2label))] == label_names
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "dtype": torch_dtype(dtype)}
    if problem_type:
        kwargs["problem_type"] = problem_type
    if not same_head:
        kwargs.update(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id=label_map(label_names),
            ignore_mismatched_sizes=True,
        )
    check_weights(name)
    try:
        # safetensors only: a pickled pytorch_model.bin could run code when it is loaded
        model = auto_class(head).from_pretrained(name, use_safetensors=True, **kwargs)
    except ValueError as exc:
        raise ModelError(f"'{name}' cannot be used as a text classifier: {first_line_of(exc)}.") from None
    except OSError as exc:
        if "safetensors" in str(exc).lower() or "model.safetensors" in str(exc):
            raise ModelError(
                f"'{name}' has no safetensors weights (only pickled ones, which tui-lab "
                f"does not load); re-save it with save_pretrained(safe_serialization=True)."
            ) from None
        raise ModelError(f"'{name}' could not be loaded: {first_line_of(exc)}.") from None
    if tokenizer.pad_token is None:  # GPT-style tokenizers have no pad token
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model


def check_positions(name: str, config: Any, max_length: int) -> None:
    """Refuse a ``max_length`` beyond the model's position embeddings (one line naming the setting)."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions and max_length > positions:
        raise ConfigError(
            f"data.max_length {max_length} is above the {positions} positions of "
            f"'{name}'; set {setting_ref('data.max_length', positions)} or less.",
            {"data.max_length": f"must be at most {positions} for this model"},
        )


def load_for_training(folder: str | Path, dtype: Any = "float32") -> tuple[Any, Any]:
    """Tokenizer and model of a checkpoint folder (a run's ``last/``) to train on, in fp32: a
    classifier, or a masked LM when its ``config.json`` names one.

    Raises:
        ModelError: the folder cannot be loaded (only safetensors weights are read).
    """
    from transformers import AutoConfig

    tokenizer = load_tokenizer(str(folder))
    check_weights(folder)
    try:
        head = head_of(AutoConfig.from_pretrained(folder))
        model = auto_class(head).from_pretrained(folder, use_safetensors=True, dtype=torch_dtype(dtype))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder} could not be loaded: {first_line_of(exc)}.") from None
    return tokenizer, model


def check_weights(folder: str | Path) -> None:
    """Refuse a local model folder without safetensors weights, in one sentence, before loading it.

    A hub id (no such local folder) passes: transformers finds its files.

    Raises:
        ModelError: the folder has only pickled weights, or none at all.
    """
    path = Path(folder).expanduser()
    if not path.is_dir() or any(path.glob("*.safetensors")) or any(path.glob("*.safetensors.index.json")):
        return
    if any((path / name).is_file() for name in PICKLED_WEIGHTS):
        raise ModelError(
            f"{path} has only pickled weights (pytorch_model.bin), which tui-lab does not load; "
            f"re-save the model with save_pretrained(safe_serialization=True)."
        )
    raise ModelError(
        f"{path} has no weights (model.safetensors); give a complete model folder, such as a run's best/."
    )


def torch_dtype(dtype: Any) -> Any:
    """A torch dtype from its name (``"float32"``, ``"bfloat16"``); ``"auto"`` passes through."""
    if not isinstance(dtype, str) or dtype == "auto":
        return dtype
    import torch

    return getattr(torch, dtype)


def load_tokenizer(name: str, trust_remote_code: bool = False) -> Any:
    """``AutoTokenizer.from_pretrained`` with a one-sentence error.

    A local folder must hold tokenizer files: without them transformers would build an empty
    vocabulary from ``config.json`` alone and every text would become ``[UNK]``.
    """
    from transformers import AutoTokenizer

    path = Path(name).expanduser()
    if (
        path.is_dir()
        and (path / "config.json").exists()
        and not any((path / f).is_file() for f in TOKENIZER_FILES)
    ):
        raise ModelError(
            f"{path} has no tokenizer files (tokenizer.json, vocab.txt...); copy them from the run or model "
            f"it came from, or save the model with its tokenizer."
        )

    try:
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelError(_unreachable(name, exc)) from None


def auto_config(name: str, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    _probe_hub(name)
    try:
        return AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelError(
                f"'{name}' ships its own code; set {setting_ref('model.trust_remote_code', True)} only if you trust its author."
            ) from None
        raise ModelError(_unreachable(name, exc)) from None
    except Exception as exc:
        raise ModelError(_unreachable(name, exc)) from None


def _probe_hub(name: str) -> None:
    """Fail in a moment, not after ~25 s of retries, when a hub id cannot be loaded from the hub.

    Skipped for local paths and when the hub is switched off (the local cache may still have it).
    """

    if Path(name).expanduser().exists() or hub.offline() or not _looks_like_hub_id(name):
        return
    status = hub.probe(name, "model")
    if status != "ok":
        raise ModelError(hub.explain(name, status, "model", WAY_OUT))


def _looks_like_hub_id(name: str) -> bool:
    return not name.startswith((".", "/", "~")) and name.count("/") <= 1


WAY_OUT = (
    f"use an offline preset ({setting_ref('model.name', 'tiny-bert')} or small-bert) or a local model folder"
)


def _unreachable(name: str, exc: BaseException) -> str:
    path = Path(name).expanduser()
    if path.is_dir():
        missing = "config.json" if not (path / "config.json").exists() else "tokenizer files"
        return f"{path} is not a Hugging Face model folder ({missing} missing or unreadable: {first_line_of(exc)})."
    if path.exists():
        return f"{path} is a file; give the folder that holds config.json and the weights."
    if not _looks_like_hub_id(name):
        return f"model folder {name} does not exist."
    return (
        f"model '{name}' is not a local folder and could not be fetched from the Hugging Face "
        f"hub (offline, or no such model); {WAY_OUT}."
    )


def first_line_of(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


def build(
    model_name: str,
    train_texts: list[str],
    label_names: list[str],
    max_length: int,
    vocab_size: int = 8000,
    trust_remote_code: bool = False,
    problem_type: str | None = None,
    head: str = "sequence",
) -> tuple[Any, Any]:
    """Tokenizer and classifier for a run: a preset trained from scratch or a pretrained model.

    ``problem_type`` (``"multi_label_classification"``...) is written into the model's config, so
    ``transformers.pipeline`` applies the right activation to a saved model.
    """
    if is_preset(model_name):
        tokenizer = preset_tokenizer(train_texts, vocab_size, max(512, max_length))
        return tokenizer, build_preset(model_name, tokenizer, label_names, max_length, problem_type, head)
    return load_pretrained(
        model_folder(model_name),
        label_names,
        max_length,
        trust_remote_code,
        problem_type=problem_type,
        head=head,
    )


def check_classifier(path: str, model_config: Any) -> list[str]:
    """Label names of a saved classifier.

    Raises:
        ModelError: the folder holds a base model with no classification head.
    """
    archs = getattr(model_config, "architectures", None) or []
    if archs and not any("SequenceClassification" in a or "TokenClassification" in a for a in archs):
        raise ModelError(
            f"{path} holds a {archs[0]} without a classification head; fine-tune it "
            f"first: train with {setting_ref('model.name', path)}."
        )
    id2label = model_config.id2label
    return [str(id2label[i]) for i in range(len(id2label))]
