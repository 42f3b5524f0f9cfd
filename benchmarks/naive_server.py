"""The naive server `serve_load.py` compares against: FastAPI calling `pipeline()` once per request, as
most tutorials write it (a sync endpoint, so FastAPI runs each call in its thread pool).

    python benchmarks/naive_server.py MODEL_FOLDER PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline

classifier = pipeline("text-classification", model=sys.argv[1], top_k=None)
app = FastAPI()


class Body(BaseModel):
    inputs: str


@app.post("/predict")
def predict(body: Body):
    return classifier(body.inputs)


@app.get("/health")
def health():
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
