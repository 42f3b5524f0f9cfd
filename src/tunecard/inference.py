"""The batched scoring engine: sort by token length, pad each batch to its own longest text,
run under inference_mode, and put the outputs back in input order."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def predict_logits(model, tokenizer, dataset, batch_size: int = 64, desc: str = "Predicting") -> np.ndarray:
    """Logits [n_rows, n_labels] for a tokenized dataset (with a `length` column), in row order."""
    lengths = np.asarray(dataset["length"])
    # Longest first: a batch that does not fit in memory fails at once, not at the end.
    order = np.argsort(-lengths, kind="stable")
    inputs = [c for c in MODEL_INPUTS if c in dataset.column_names]
    rows = dataset.select_columns(inputs)
    device = next(model.parameters()).device
    model.eval()
    outputs = None
    with torch.inference_mode(), tqdm(total=len(order), desc=desc, unit="text") as bar:
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = tokenizer.pad(rows[index.tolist()], return_tensors="pt")
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy()
            if outputs is None:
                outputs = np.empty((len(order), logits.shape[-1]), dtype=np.float32)
            outputs[index] = logits
            bar.update(len(index))
    return outputs if outputs is not None else np.empty((0, model.config.num_labels), np.float32)
