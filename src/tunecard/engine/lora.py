"""Causal language models: load one (in fp32, or its frozen base in 4-bit for QLoRA), put LoRA adapters on it
(peft), load a tuned one back, or load one to score without training."""

from __future__ import annotations

from pathlib import Path

from tunecard.engine.models import ModelRef, adapter_base, from_pretrained, load_tokenizer, resolve_model
from tunecard.errors import TunecardError

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
"""LoRA targets by default where a model has them (Llama, Mistral, Qwen, SmolLM2, ...)."""


def load_causal_lm(ref: ModelRef, quantize: str | None = None):
    """A causal LM in fp32 (or, with quantize='4bit', its frozen base in 4-bit NF4 on the GPU: QLoRA)."""
    from transformers import AutoModelForCausalLM

    kwargs = {}
    if quantize == "4bit":
        kwargs = {"quantization_config": qlora_quantization(), "device_map": {"": 0}}
    return from_pretrained(AutoModelForCausalLM, ref, **kwargs)


ZERO_SHOT_MAX_LENGTH = 512
"""The most prompt tokens a zero-shot evaluation keeps when --max_length is unset (less if the model's limit is)."""
CAUSAL_LM_ARCHITECTURES = ("ForCausalLM", "LMHeadModel")
"""How the architectures of models with a language-model head end (LlamaForCausalLM, GPT2LMHeadModel, ...)."""


def load_scoring_lm(ref: ModelRef):
    """(model, tokenizer): a causal LM as published, or a PEFT adapter folder merged into its base, to score
    without training (on the GPU when there is one). Refuses a model whose config.json names no language-model
    head: transformers would load an encoder (e.g. BertModel) as a causal LM with a new random head."""
    import torch
    from transformers import AutoConfig

    from tunecard.engine import distributed

    base = adapter_base(ref)
    architectures = from_pretrained(AutoConfig, base or ref).architectures or []
    if not any(name.endswith(CAUSAL_LM_ARCHITECTURES) for name in architectures):
        raise TunecardError(f"model '{ref.name}'", "a causal language model (config.json architectures ending in "
                            f"{' or '.join(CAUSAL_LM_ARCHITECTURES)})", ", ".join(architectures) or "no architectures",
                            "pass a causal LM (e.g. smollm2-135m) to score zero-shot")
    model = load_causal_lm(base or ref)
    if base is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, ref.location).merge_and_unload()
    own_tokenizer = base is None or (Path(ref.location) / "tokenizer_config.json").is_file()
    tokenizer = load_tokenizer(ref if own_tokenizer else base)
    return (model.to(distributed.device()) if torch.cuda.is_available() else model), tokenizer


def zero_shot_max_length(tokenizer) -> int:
    return min(tokenizer.model_max_length, ZERO_SHOT_MAX_LENGTH)


def qlora_quantization():
    """The QLoRA recipe: NF4 weights, double quantisation, bf16 compute where the GPU has it."""
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute)


def apply_lora(model, lora):
    """Wrap `model` in a peft LoRA model (only the adapters train). `lora` is a config.LoraConfig."""
    import peft

    if lora.quantize:
        model = peft.prepare_model_for_kbit_training(model)
    targets = lora.target_modules or attention_projections(model)
    config = peft.LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                             target_modules=targets, task_type="CAUSAL_LM")
    try:
        return peft.get_peft_model(model, config)
    except ValueError as exc:
        raise TunecardError("--lora.target_modules", "names of linear layers of the model",
                            f"{targets or 'none known for model type ' + model.config.model_type} ({exc})",
                            "name the attention projections with --lora.target_modules") from None


def attention_projections(model) -> list[str] | None:
    """The model's attention projections among ATTENTION_PROJECTIONS; None lets peft pick its default
    for the model type (e.g. c_attn for GPT-2)."""
    import torch

    linear = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    return [n for n in ATTENTION_PROJECTIONS if n in linear] or None


def load_tuned_causal_lm(folder: Path, base_ref: str, quantize: str | None = None):
    """(model, tokenizer) of a trained LoRA-tuned causal LM folder. An adapter folder is put back on its base
    (`base_ref`: the alias, hub id or folder it was trained on; `quantize`: 4bit for a QLoRA adapter, used where a
    GPU allows, else the full-precision base); a merged one loads whole."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if not (folder / "adapter_config.json").is_file():
        return AutoModelForCausalLM.from_pretrained(folder), tokenizer
    import torch
    from peft import PeftModel

    base = load_causal_lm(resolve_model(base_ref), quantize if torch.cuda.is_available() else None)
    return PeftModel.from_pretrained(base, folder), tokenizer
