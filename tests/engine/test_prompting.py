"""engine/prompting.py on the session's tiny Llama (a word-level tokenizer with a small chat template): the prompt
is the chat template split around the text; without one it is plain and ends with EOS."""

from __future__ import annotations

from conftest import encode
from tunecard.engine import prompting


def test_prompt_uses_the_chat_template_split_around_the_text(loaded):
    _, tokenizer = loaded
    fmt = prompting.build_format(tokenizer, ["negative", "positive"], "classify : {labels} .", "{text}")
    assert tokenizer.decode(fmt.prefix) == "<|system|> classify : negative, positive. <|end|> <|user|>"
    assert tokenizer.convert_ids_to_tokens(fmt.suffix) == ["<|end|>", "<|assistant|>"]
    assert fmt.answers == [encode(tokenizer, "negative"), encode(tokenizer, "positive")]
    assert tokenizer.convert_ids_to_tokens(fmt.end) == ["<|end|>"]  # the chat's end of turn, not EOS
    assert fmt.prompt([9, 9]) == fmt.prefix + [9, 9] + fmt.suffix


def test_prompt_without_chat_template_is_plain_and_ends_with_eos(loaded):
    _, tokenizer = loaded
    fmt = prompting.build_format(tokenizer, ["very good", "bad"], None, "text : {text}", use_chat_template=False)
    assert fmt.prefix == encode(tokenizer, "text :") and tokenizer.decode(fmt.suffix) == "answer :"
    assert fmt.answers == [encode(tokenizer, "very good"), encode(tokenizer, "bad")] and fmt.answer_space
    assert fmt.end == [tokenizer.eos_token_id]
