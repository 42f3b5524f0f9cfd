"""Prompts for causal language models, as token ids: `prefix + text + suffix`, then an answer.

The prompt is the model's chat template (system turn, user turn, assistant header) when it has one,
else a plain "system / text / Answer:" format. It is rendered once with a placeholder where the text
goes and split there, so every prompt shares one prefix (its KV cache can be computed once) and
texts are tokenized on their own. Training and scoring use exactly the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunecard.errors import TunecardError

TEXT_SLOT = "TUNECARDTEXTSLOT"
"""Stands where the text goes while the chat template is rendered (survives `trim`-like filters)."""
ANSWER_SLOT = "TUNECARDANSWERSLOT"
PLAIN_ANSWER_CUE = "\nAnswer:"
"""Ends a prompt without a chat template; answers then start with a space."""


@dataclass(frozen=True)
class PromptFormat:
    prefix: list[int]
    """Token ids before the text, the same for every prompt (system turn, user-turn header)."""
    suffix: list[int]
    """Token ids after the text (end of the user turn, assistant header or the plain answer cue)."""
    answers: list[list[int]]
    """Token ids of each label's words, as they follow the suffix."""
    end: list[int]
    """The end-of-answer token trained after a label (the chat's end of turn, else EOS); may be empty."""
    words: list[str]
    """Each label's words."""
    answer_space: bool
    """Whether answers follow the prompt after a space (plain format)."""

    def prompt(self, text_ids: list[int]) -> list[int]:
        return self.prefix + list(text_ids) + self.suffix

    def answer(self, label: int) -> list[int]:
        """What the model learns to answer for a label: its words and the end of the answer."""
        return self.answers[label] + self.end

    def encode_answer(self, tokenizer, words: str) -> list[int]:
        """Token ids of any answer (e.g. a multiple-choice option) as it follows the suffix."""
        return tokenizer((" " if self.answer_space else "") + words.strip(), add_special_tokens=False)["input_ids"]


def label_words(names: list[str], verbalizers: dict | None) -> list[str]:
    """The words each label is answered with: its verbalizer, else its name."""
    verbalizers = {str(k): v for k, v in (verbalizers or {}).items()}
    unknown = sorted(set(verbalizers) - set(names))
    if unknown:
        raise TunecardError("--llm.verbalizers", f"keys that are label names ({', '.join(names)})",
                            f"{', '.join(unknown)}", "use the label names as keys")
    words = [str(verbalizers.get(name, name)).strip() for name in names]
    repeated = sorted({w for w in words if words.count(w) > 1 or not w})
    if repeated:
        raise TunecardError("--llm.verbalizers", "different, non-empty words for every label",
                            f"{', '.join(repr(w) for w in repeated)} used for several labels or empty",
                            "give each label its own words with --llm.verbalizers")
    return words


def build_format(tokenizer, words: list[str], system_prompt: str | None, template: str = "{text}",
                 use_chat_template: bool = True, answer_cue: str = PLAIN_ANSWER_CUE) -> PromptFormat:
    """Render the prompt around the text slot, tokenize its parts and every label's answer (`words` may
    be empty: prompts whose answers vary per row, such as multiple-choice options). `answer_cue` ends a
    plain (non-chat) prompt; "" makes the answer the text's direct continuation, as lm-evaluation-harness
    scores multiple choice."""
    check_template(template)
    labels_text = ", ".join(words)
    system = (system_prompt or "").replace("{labels}", labels_text).strip()
    user = template.replace("{labels}", labels_text).replace("{text}", TEXT_SLOT)
    chat = use_chat_template and bool(getattr(tokenizer, "chat_template", None))
    rendered = _render_chat(tokenizer, system, user) if chat else _render_plain(system, user, answer_cue)
    before, after = rendered.split(TEXT_SLOT)
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"] if text else []  # noqa: E731
    prefix = encode(before)
    bos = tokenizer.bos_token_id
    if bos is not None and _adds_bos(tokenizer) and prefix[:1] != [bos]:
        prefix = [bos] + prefix  # the tokenizer would add it to a whole prompt: keep it
    answers = [encode((" " if not chat else "") + w) for w in words]
    if any(not a for a in answers):
        raise TunecardError("label words", "words that the tokenizer turns into tokens", f"none for {words}",
                            "give each label visible words with --llm.verbalizers")
    _check_answers(answers, words)
    end = _end_of_answer(tokenizer, system, user) if chat else ([tokenizer.eos_token_id] if tokenizer.eos_token_id
                                                                   is not None else [])
    return PromptFormat(prefix, encode(after), answers, end, list(words), not chat)


def check_template(template: str) -> None:
    if template.count("{text}") != 1:
        raise TunecardError("--llm.template", "a user turn with exactly one {text}",
                            f"{template.count('{text}')} in {template!r}", "write {text} where the input goes")


def _render_chat(tokenizer, system: str, user: str) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    try:
        rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception:  # some templates refuse a system turn (jinja raises): put it in the user turn
        messages = [{"role": "user", "content": f"{system}\n\n{user}" if system else user}]
        rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    if rendered.count(TEXT_SLOT) != 1:
        raise TunecardError("the model's chat template", "to keep the user's text as given",
                            "it changed or dropped the text", "set --llm.chat_template false")
    return rendered


def _render_plain(system: str, user: str, answer_cue: str = PLAIN_ANSWER_CUE) -> str:
    return (f"{system}\n\n" if system else "") + user + answer_cue


def _adds_bos(tokenizer) -> bool:
    ids = tokenizer("a")["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def _end_of_answer(tokenizer, system: str, user: str) -> list[int]:
    """The token that closes an assistant turn in the chat template (e.g. <|im_end|>), else EOS."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": ANSWER_SLOT}]
    try:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False)
        after = rendered.split(ANSWER_SLOT, 1)[1]
    except Exception:
        after = ""
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
    if ids and ids[0] in set(tokenizer.all_special_ids):
        return ids[:1]
    return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []


def _check_answers(answers: list[list[int]], words: list[str]) -> None:
    """Summed log-likelihoods favour an answer that is the start of another: refuse such label sets."""
    for i, a in enumerate(answers):
        for j, b in enumerate(answers):
            if i != j and len(a) <= len(b) and b[:len(a)] == a:
                raise TunecardError("label words", "labels whose tokens do not start another label's tokens",
                                    f"{words[i]!r} is the start of {words[j]!r}",
                                    "give distinct words with --llm.verbalizers")


def cut(ids: list[int], max_length: int, side: str) -> list[int]:
    return list(ids[-max_length:]) if side == "left" else list(ids[:max_length])


def pad_id(tokenizer) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return candidate
    return 0
