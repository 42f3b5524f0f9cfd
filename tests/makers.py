"""What the tests build and share: small learnable data sets (a label told by one cue word among filler words, in
the layout of each task), the tiny random models, the config of a tiny run and the exact-error check of the
command line. Plain functions, importable from any test folder (`pythonpath = ["tests"]` in pyproject.toml);
conftest.py re-exports them and holds the session's fixtures."""

from __future__ import annotations

import json
import random

POSITIVE = ["great", "wonderful", "superb", "lovely"]
NEGATIVE = ["awful", "terrible", "dreadful", "boring"]
FILLER = ["the", "film", "plot", "was", "acting", "really", "quite", "story", "and", "music", "a"]
LETTERS = "ABCD"


def write_jsonl(path, rows) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def make_rows(n: int, seed: int = 0, labels=("negative", "positive")) -> list[dict]:
    """Texts whose label is decided by one sentiment word among filler words (learnable)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        cue = rng.choice(POSITIVE if label == labels[-1] else NEGATIVE)
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        words.insert(rng.randint(0, len(words)), cue)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_sentiment(folder):
    """train/validation/test JSONL of learnable two-class data (the `sentiment_dir` fixture's files)."""
    write_jsonl(folder / "train.jsonl", make_rows(240, seed=1))
    write_jsonl(folder / "validation.jsonl", make_rows(60, seed=2))
    write_jsonl(folder / "test.jsonl", make_rows(60, seed=3))
    return folder


def make_questions(n: int, seed: int = 0, n_options: int = 4) -> list[dict]:
    """Questions whose right option carries a positive cue word and the others negative ones (learnable),
    in the Kaggle layout: prompt, A..D, answer letter."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        answer = rng.randrange(n_options)
        phrase = lambda cue: " ".join([rng.choice(FILLER), cue, rng.choice(FILLER)])  # noqa: E731
        options = [phrase(rng.choice(POSITIVE if j == answer else NEGATIVE)) for j in range(n_options)]
        rows.append({"id": f"q{i}", "prompt": "which one is " + " ".join(rng.sample(FILLER, 3)) + "?",
                     **dict(zip(LETTERS, options)), "answer": LETTERS[answer]})
    return rows


MIXED_COUNTS = (3, 4, 5)


def make_mixed_questions(n: int, seed: int = 0, digit_labels: bool = False, counts=MIXED_COUNTS) -> list[dict]:
    """Learnable questions (the right option carries a positive cue word) whose option counts cycle through
    `counts`, in the HF/ARC layout: a question string, `choices` {text, label}, `answerKey` naming a label
    (letters A, B, ... or, as ARC sometimes has them, digits 1, 2, ...)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        n_options = counts[i % len(counts)]
        answer = rng.randrange(n_options)
        phrase = lambda cue: " ".join([rng.choice(FILLER), cue, rng.choice(FILLER)])  # noqa: E731
        texts = [phrase(rng.choice(POSITIVE if j == answer else NEGATIVE)) for j in range(n_options)]
        labels = [str(j + 1) for j in range(n_options)] if digit_labels else list("ABCDE"[:n_options])
        rows.append({"id": f"q{i}", "question": "which one is " + " ".join(rng.sample(FILLER, 3)) + "?",
                     "choices": {"text": texts, "label": labels}, "answerKey": labels[answer]})
    return rows


def make_pairs(n: int, seed: int = 0) -> list[dict]:
    """HH-RLHF-style dialogues sharing a history; the chosen reply carries a positive cue word."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        history = "\n\nHuman: " + " ".join(rng.choice(FILLER) for _ in range(rng.randint(3, 8))) + "\n\nAssistant:"
        reply = lambda cue: " " + " ".join([cue] + [rng.choice(FILLER) for _ in range(rng.randint(2, 6))])  # noqa: E731
        rows.append({"chosen": history + reply(rng.choice(POSITIVE)), "rejected": history + reply(rng.choice(NEGATIVE))})
    return rows


LABEL_CUES = {"joy": ["happy", "glad"], "anger": ["angry", "furious"], "fear": ["scared", "afraid"]}
LABEL_NAMES = sorted(LABEL_CUES)


def label_set_rows(n: int, seed: int) -> list[dict]:
    """Texts carrying each label's cue word independently (40% each): learnable sets, some empty."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        labels = [label for label in LABEL_CUES if rng.random() < 0.4]
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 8))]
        for label in labels:
            words.insert(rng.randint(0, len(words)), rng.choice(LABEL_CUES[label]))
        rows.append({"text": " ".join(words), "labels": labels})
    return rows


def write_label_sets(folder):
    """train/validation/test JSONL of learnable label sets (the `label_set_dir` fixture's files)."""
    for name, n, seed in (("train", 300, 1), ("validation", 80, 2), ("test", 80, 3)):
        write_jsonl(folder / f"{name}.jsonl", label_set_rows(n, seed))
    return folder


def train_args(data, output, model="minilm", *extra) -> list[str]:
    """`tunecard train`'s arguments for data, an output and a model (the embedded MiniLM unless given)."""
    return ["train", "--data", str(data), "--model", model, "--output", str(output), *extra]


def tiny_config(data, model, output, **train) -> dict:
    """A config for a tiny model: a high learning rate so a few epochs learn the cue word."""
    return {"data": {"path": str(data)}, "model": {"name": model, "max_length": 32},
            "train": {"epochs": 4, "learning_rate": 1e-2, "batch_size": 16, **train},
            "output": str(output)}


def build_tiny_bert(folder, tokenizer_path) -> str:
    """A random BERT (2 layers, hidden 32) with the embedded MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


SPECIAL = ["<pad>", "<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
WORDS = sorted(set(FILLER + POSITIVE + NEGATIVE + [
    "negative", "positive", "classify", "text", "answer", "with", "exactly", "one", "of", "these", "labels",
    "very", "not", "good", "bad", "question", ":", ".", ","]))
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|> {% endif %}")


def build_tiny_lm(folder, chat: bool = True) -> str:
    """A random 2-layer Llama and a word-level tokenizer. Its LM head is scaled up: with the usual 0.02
    init a 32-wide random head cannot produce logits large enough to ever be confident (and a larger
    init everywhere saturates the random attention, which LoRA then cannot re-route)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece()  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>", additional_special_tokens=SPECIAL[4:])
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=2, eos_token_id=3, pad_token_id=0)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(15)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def run_cli(capsys, *args) -> tuple[int, str]:
    """`tunecard ARGS` in process: its exit status and its stderr, stripped."""
    from tunecard.cli import main

    capsys.readouterr()  # what ran before (a shared run trained on first use) is not this command's output
    code = main(list(args))
    return code, capsys.readouterr().err.strip()


def assert_cli_error(capsys, args, message, output=None) -> None:
    """`tunecard ARGS` exits 2 with the one line `tunecard: error: MESSAGE`, no traceback, and (given `output`)
    leaves neither the output nor its .partial behind."""
    code, err = run_cli(capsys, *args)
    assert code == 2
    assert err == f"tunecard: error: {message}"
    assert "Traceback" not in err and len(err.splitlines()) == 1
    if output is not None:
        assert not output.exists() and not output.with_name(output.name + ".partial").exists()


def encode(tokenizer, text: str) -> list[int]:
    """A text's token ids without special tokens."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def build_word_bert(folder) -> str:
    """A random BERT (2 layers, hidden 32) whose WordPiece vocabulary is WORDS alone: Model2Vec distils its 40-odd
    tokens into static embeddings in a second (the MiniLM vocabulary's 30,000 take a minute)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(special + WORDS)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                        model_max_length=128)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
