"""`tunecard serve`: the HTTP API in-process (scores equal `tunecard.load`/`predict`, every error with its
message, truncation, /health /info /docs /metrics), a real server process (dynamic batching of concurrent
requests, graceful shutdown with requests in flight, the try-it page in a headless browser), multiple-choice
and preference models (the session's tiny runs), and CLI errors. The DynamicBatcher on its own:
test_serve_batcher.py."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import tunecard
from conftest import make_questions, write_jsonl
from tunecard.cli import main
from tunecard.config import ServeConfig
from tunecard.workflows.serve.app import create_app
from tunecard.workflows.serve.engine import ServedModel

CHROMIUM = "/usr/bin/chromium"
URL = re.compile(r"at (http://\S+)")
GOOD = "what a wonderful lovely film"
BAD = "awful and dreadful"
TEXTS = [GOOD, BAD, "the plot was quite", "music and story", "great awful", "the acting"]
LONG = GOOD + " " + "the plot was quite boring and the music " * 6  # well over the tiny model's 32 tokens
FIX_SHAPE = 'Fix: send {"inputs": "a text"} or {"inputs": ["a text", "another"]}'


# ---- fixtures and helpers -----------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run(tiny_runs):
    # No temperature: the calibrated tiny model's probabilities are all 0 or 1, which compare too easily. No test
    # split: the card's metrics are validation's.
    return tiny_runs("classification_train_only", temperature_scaling=False)


@pytest.fixture(scope="module")
def served(run):
    return ServedModel(str(run.output))


@pytest.fixture(scope="module")
def classifier(run):
    return tunecard.load(run.output)


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app(served, ServeConfig(model=served.path))) as client:
        yield client


@contextlib.contextmanager
def app_client(served, raise_server_exceptions=True, **settings):
    """A fresh app (its own queue and metrics) over an already loaded model."""
    app = create_app(served, ServeConfig(model=served.path, **settings))
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        yield client


def assert_scores(result, probs, labels):
    """`result` ({label, score} per label) holds `probs` (in `labels` order), most likely first."""
    assert sorted(entry["label"] for entry in result) == sorted(labels)
    scores = [entry["score"] for entry in result]
    assert scores == sorted(scores, reverse=True)
    for entry in result:
        assert entry["score"] == pytest.approx(float(probs[labels.index(entry["label"])]), abs=1e-5)


def assert_error(response, status, message, kind="Validation"):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": message, "error_type": kind}


def metric_samples(text: str) -> dict:
    """(sample name, labels) -> value of a Prometheus exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    stderr: list[str]

    def metrics(self) -> dict:
        return metric_samples(httpx.get(self.url + "/metrics", timeout=10).text)


@contextlib.contextmanager
def serve_process(model, *flags, timeout: float = 90):
    """`python -m tunecard serve --model MODEL --port 0 FLAGS` until the block ends (then killed if it still
    runs); yields a Server once the process says where it listens."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    process = subprocess.Popen([sys.executable, "-m", "tunecard", "serve", "--model", str(model), "--port", "0",
                                *flags], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    found: queue.Queue = queue.Queue()

    def read():  # keeps draining stderr so the server never blocks on a full pipe
        for line in process.stderr:
            lines.append(line)
            match = URL.search(line)
            if match:
                found.put(match.group(1))
        found.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        try:
            url = found.get(timeout=timeout)
        except queue.Empty:
            url = None
        assert url is not None, "the server did not say where it listens:\n" + "".join(lines)
        yield Server(process, url, lines)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(timeout=10)


@pytest.fixture(scope="module")
def server(run):
    """A real server process, batching for up to 200 ms, with a small payload limit for the page's error."""
    with serve_process(run.output, "--max_wait_ms", "200", "--payload_limit", "400") as server:
        yield server


def post_concurrently(url: str, bodies: list[dict], timeout: float = 60) -> list:
    """POST every body at once from its own thread: the responses (or the exception), in order."""
    results: list = [None] * len(bodies)
    start = threading.Barrier(len(bodies))
    with httpx.Client(timeout=timeout) as http:
        def post(i):
            start.wait()
            try:
                results[i] = http.post(url + "/predict", json=bodies[i])
            except Exception as exc:  # reported by the test's assertions
                results[i] = exc
        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout + 10)
    return results


# ---- /predict -----------------------------------------------------------------------------------

def test_predict_one_text_gives_the_labels_with_load_probabilities(client, classifier):
    response = client.post("/predict", json={"inputs": GOOD})
    assert response.status_code == 200
    assert "x-truncated-inputs" not in response.headers
    result = response.json()
    assert [entry["label"] for entry in result] == ["positive", "negative"]
    assert_scores(result, classifier.predict_proba([GOOD])[0], ["negative", "positive"])
    assert sum(entry["score"] for entry in result) == pytest.approx(1, abs=1e-5)


def test_predict_a_batch_gives_one_list_per_input_in_order(client, classifier):
    response = client.post("/predict", json={"inputs": TEXTS})
    assert response.status_code == 200
    results = response.json()
    probs = classifier.predict_proba(TEXTS)
    assert len(results) == len(TEXTS)
    for result, row in zip(results, probs):
        assert_scores(result, row, ["negative", "positive"])
    assert results[0][0]["label"] == "positive" and results[1][0]["label"] == "negative"
    assert any(0.01 < r[0]["score"] < 0.99 for r in results)  # not all saturated: the comparison means something


def test_predict_objects_with_a_text_field_score_like_plain_texts(client, classifier):
    response = client.post("/predict", json={"inputs": [{"text": GOOD}, {"text": BAD}]})
    assert response.status_code == 200
    for result, row in zip(response.json(), classifier.predict_proba([GOOD, BAD])):
        assert_scores(result, row, ["negative", "positive"])


# ---- errors ---------------------------------------------------------------------------------------

def test_bad_json_is_422(client):
    response = client.post("/predict", content=b'{"inputs": "a", oops}', headers={"content-type": "application/json"})
    assert_error(response, 422, "body: expected JSON; found invalid JSON (Expecting property name enclosed in "
                                "double quotes). Fix: send a JSON object")


@pytest.mark.parametrize("body", [["a text", "another"], "a text", 3])
def test_a_body_that_is_not_an_object_is_422(client, body):
    assert_error(client.post("/predict", json=body), 422,
                 'body: expected a JSON object {"inputs": ...}; found another JSON value. '
                 'Fix: wrap it in {"inputs": ...}')


def test_a_number_as_inputs_is_422(client):
    assert_error(client.post("/predict", json={"inputs": 3}), 422,
                 f"inputs: expected a text, an object of text fields, or a list of these; found 3. {FIX_SHAPE}")


def test_a_list_of_lists_as_inputs_is_422(client):
    assert_error(client.post("/predict", json={"inputs": [["a"]]}), 422,
                 f'inputs: expected a text, an object of text fields, or a list of these; found [["a"]]. {FIX_SHAPE}')


def test_missing_inputs_is_422(client):
    assert_error(client.post("/predict", json={"text": "a"}), 422,
                 f'inputs: expected an "inputs" field; found {{"text": "a"}}. {FIX_SHAPE}')


def test_an_unknown_top_level_field_is_422(client):
    assert_error(client.post("/predict", json={"inputs": "a", "top_k": 1}), 422,
                 f"top_k: expected only the fields inputs and truncate; found 1. {FIX_SHAPE}")


def test_truncate_must_be_a_boolean(client):
    assert_error(client.post("/predict", json={"inputs": "a", "truncate": "maybe"}), 422,
                 f'truncate: expected true or false; found "maybe". {FIX_SHAPE}')


def test_fields_the_task_cannot_read_are_422(client):
    assert_error(client.post("/predict", json={"inputs": {"question": "x"}}), 422,
                 "inputs: expected one named text, sentence, content, review, document, tweet, body, utterance, "
                 "comment; found columns question. Fix: send inputs with the model's fields, e.g. "
                 "\"I can't wait to see you again!\"")


def test_inputs_of_different_shapes_in_one_request_are_422(client):
    assert_error(client.post("/predict", json={"inputs": [{"text": "a"}, {"review": "b"}]}), 422,
                 "inputs[1]: expected the fields of the first input (text); found review. "
                 "Fix: send inputs of one shape in a request")


def test_an_empty_object_is_422(client):
    assert_error(client.post("/predict", json={"inputs": {}}), 422,
                 "inputs[0]: expected a text or an object with the model's input fields; found an empty object. "
                 'Fix: send the text, or fields such as {"text": ...}')


def test_an_empty_list_is_422(client):
    assert_error(client.post("/predict", json={"inputs": []}), 422,
                 "inputs: expected one input or a non-empty list of inputs; found an empty list. "
                 "Fix: send at least one input")


def test_a_null_text_is_422(served):
    with app_client(served, raise_server_exceptions=False) as client:
        response = client.post("/predict", json={"inputs": {"text": None}})
    assert response.status_code == 422, response.text
    assert response.json()["error_type"] == "Validation"


def test_a_body_over_the_payload_limit_is_413(served):
    body = json.dumps({"inputs": "a" * 300}).encode()
    with app_client(served, payload_limit=200) as client:
        assert_error(client.post("/predict", content=body, headers={"content-type": "application/json"}), 413,
                     f"body: expected at most 200 bytes (--payload_limit); found {len(body)}. "
                     "Fix: send fewer or shorter inputs")
        assert client.post("/predict", json={"inputs": GOOD}).status_code == 200  # under the limit


def test_more_inputs_than_max_client_batch_size_is_413(client):
    assert_error(client.post("/predict", json={"inputs": ["a"] * 33}), 413,
                 "inputs: expected at most 32 inputs (--max_client_batch_size); found 33. Fix: split the batch")


def test_truncate_false_with_a_too_long_input_is_413(client):
    assert_error(client.post("/predict", json={"inputs": ["a", LONG, "b", LONG], "truncate": False}), 413,
                 'inputs 1,3: expected at most 32 tokens; found more. Fix: shorten them or send "truncate": true')
    assert client.post("/predict", json={"inputs": ["a", "b"], "truncate": False}).status_code == 200


def test_a_full_queue_is_503(served):
    with app_client(served, max_queue=1) as client:
        assert_error(client.post("/predict", json={"inputs": ["a", "b"]}), 503,
                     "the model is overloaded: 0 inputs are queued (limit 1). Retry later", kind="Overloaded")
        assert client.post("/predict", json={"inputs": "a"}).status_code == 200


# ---- truncation -----------------------------------------------------------------------------------

def test_a_long_input_is_cut_as_predict_cuts_it_and_reported(client, classifier):
    assert len(classifier.tokenizer(LONG)["input_ids"]) > 32
    single = client.post("/predict", json={"inputs": LONG})
    assert single.status_code == 200 and single.headers["x-truncated-inputs"] == "0"
    assert_scores(single.json(), classifier.predict_proba([LONG])[0], ["negative", "positive"])

    batch = client.post("/predict", json={"inputs": [BAD, LONG, GOOD, LONG + " awful"]})
    assert batch.status_code == 200 and batch.headers["x-truncated-inputs"] == "1,3"
    probs = classifier.predict_proba([BAD, LONG, GOOD, LONG + " awful"])
    for result, row in zip(batch.json(), probs):
        assert_scores(result, row, ["negative", "positive"])
    # the text after the cut changes nothing: the model read the same 32 tokens
    assert batch.json()[3] == batch.json()[1]


# ---- /health, /info, /docs, /metrics -----------------------------------------------------------------

def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_info_describes_the_model_the_limits_and_the_card_metrics(client, run):
    info = client.get("/info").json()
    assert info["model_id"] == str(run.output)
    assert info["task"] == "classification"
    assert info["labels"] == ["negative", "positive"]
    assert info["max_input_length"] == 32
    assert info["backend"] == "torch"
    defaults = ServeConfig()
    assert (info["max_batch_tokens"], info["max_wait_ms"], info["max_client_batch_size"], info["max_queue"]) == (
        defaults.max_batch_tokens, defaults.max_wait_ms, defaults.max_client_batch_size, defaults.max_queue)
    assert info["input_example"] == "I can't wait to see you again!"
    assert info["version"] == tunecard.__version__
    validation = run.metrics["splits"]["validation"]["metrics"]
    assert {(m["split"], m["metric"]) for m in info["metrics"]} == {
        ("validation", name) for name in ("Accuracy", "Precision", "Recall", "F1")}
    for entry in info["metrics"]:
        assert entry["value"] == pytest.approx(validation[entry["metric"].lower()], abs=1e-4)


def test_docs_and_openapi(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = client.get("/openapi.json").json()
    assert "post" in spec["paths"]["/predict"]
    assert {"/health", "/info", "/metrics"} <= set(spec["paths"])


def test_the_try_it_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="input"' in page.text and 'id="score"' in page.text


def test_metrics_count_requests_inputs_batches_and_truncations(served):
    with app_client(served) as client:
        assert client.post("/predict", json={"inputs": GOOD}).status_code == 200
        assert client.post("/predict", json={"inputs": [BAD, LONG, GOOD]}).status_code == 200
        assert client.post("/predict", json={"inputs": 3}).status_code == 422
        assert client.post("/predict", json={"inputs": []}).status_code == 422
        assert client.post("/predict", json={"inputs": ["a"] * 40}).status_code == 413
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = metric_samples(response.text)
    assert metric(samples, "tunecard_requests_total", path="/predict", status="200") == 2
    assert metric(samples, "tunecard_requests_total", path="/predict", status="422") == 2
    assert metric(samples, "tunecard_requests_total", path="/predict", status="413") == 1
    assert metric(samples, "tunecard_inputs_total") == 4
    assert metric(samples, "tunecard_truncated_inputs_total") == 1
    assert metric(samples, "tunecard_batch_size_count") == 2  # one request at a time: one batch each
    assert metric(samples, "tunecard_batch_size_sum") == 4
    assert metric(samples, "tunecard_request_duration_seconds_count") == 2
    assert metric(samples, "tunecard_queue_inputs") == 0


# ---- a real server process -------------------------------------------------------------------------

def test_concurrent_requests_are_batched_by_a_real_server(server, run, client, classifier):
    assert re.search(rf"tunecard serve: classification model {re.escape(str(run.output))} \(2 labels, torch\) "
                     r"at http://127\.0\.0\.1:\d+ ", "".join(server.stderr))
    texts = [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(16)]
    before = server.metrics()
    responses = post_concurrently(server.url, [{"inputs": text} for text in texts])
    after = server.metrics()
    probs = classifier.predict_proba(texts)
    for text, response, row in zip(texts, responses, probs):
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 200, response.text
        assert_scores(response.json(), row, ["negative", "positive"])
        in_process = client.post("/predict", json={"inputs": text}).json()
        assert [e["label"] for e in response.json()] == [e["label"] for e in in_process]
        assert [e["score"] for e in response.json()] == pytest.approx([e["score"] for e in in_process], abs=1e-5)
    batches = metric(after, "tunecard_batch_size_count") - metric(before, "tunecard_batch_size_count")
    inputs = metric(after, "tunecard_batch_size_sum") - metric(before, "tunecard_batch_size_sum")
    assert inputs == 16
    assert batches < 16, "no two concurrent requests were scored in one batch"
    requests = (metric(after, "tunecard_requests_total", path="/predict", status="200")
                - metric(before, "tunecard_requests_total", path="/predict", status="200"))
    assert requests == 16


def test_sigterm_answers_the_requests_in_flight_then_exits(run, classifier):
    texts = [f"{TEXTS[i % len(TEXTS)]} number {i}" for i in range(12)]
    with serve_process(run.output, "--max_wait_ms", "1000") as server:
        results: list = []
        sender = threading.Thread(target=lambda: results.extend(
            post_concurrently(server.url, [{"inputs": text} for text in texts])))
        sender.start()
        queued, deadline = 0.0, time.monotonic() + 0.8
        while time.monotonic() < deadline:  # until every request waits in the queue (or 0.8 s)
            queued = metric(server.metrics(), "tunecard_queue_inputs")
            if queued >= len(texts):
                break
            time.sleep(0.02)
        assert queued > 0, "no request was queued when the server was told to stop"
        server.process.send_signal(signal.SIGTERM)
        sender.join(60)
        exit_code = server.process.wait(timeout=30)
        assert len(results) == len(texts)
        for response, row in zip(results, classifier.predict_proba(texts)):
            assert isinstance(response, httpx.Response), f"a request in flight was lost: {response!r}"
            assert response.status_code == 200, response.text
            assert_scores(response.json(), row, ["negative", "positive"])
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health", timeout=5)
        assert "Traceback" not in "".join(server.stderr)
        assert exit_code == 0


def test_ctrl_c_exits_0(run):
    """SIGINT (Ctrl-C) as SIGTERM: exit 0, no traceback (SIGTERM's test is the one above, with requests in flight)."""
    with serve_process(run.output) as server:
        assert httpx.post(server.url + "/predict", json={"inputs": GOOD}, timeout=30).status_code == 200
        server.process.send_signal(signal.SIGINT)
        exit_code = server.process.wait(timeout=30)
    assert "Traceback" not in "".join(server.stderr), "".join(server.stderr)[-2000:]
    assert exit_code == 0


# ---- the try-it page in a real browser ---------------------------------------------------------------

def _browser_or_skip():
    missing = None
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is missing"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}: CI installs it, so the try-it page test must run there")
        pytest.skip(missing)


def test_the_try_it_page_scores_a_text_in_a_headless_browser(server):
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    expected = httpx.post(server.url + "/predict", json={"inputs": GOOD}, timeout=30).json()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            page.wait_for_function("document.getElementById('title').textContent.includes('classification')",
                                   timeout=15000)
            assert page.input_value("#input") == "I can't wait to see you again!"  # /info's example
            assert "2 labels: negative, positive" in page.text_content("#summary")
            assert page.locator("#metrics table tr").count() == 5  # a header and 4 card metrics

            page.fill("#input", GOOD)
            page.click("#score")
            page.wait_for_selector("#results .row", timeout=15000)
            rows = page.locator("#results .row")
            shown = [(rows.nth(i).get_attribute("data-label"), rows.nth(i).locator(".score").text_content(),
                      rows.nth(i).locator(".bar").evaluate("bar => bar.style.width")) for i in range(rows.count())]
            assert [label for label, _, _ in shown] == [e["label"] for e in expected]
            assert shown[0][0] == "positive"
            for (label, score, width), entry in zip(shown, expected):
                assert score == f"{entry['score']:.3f}"
                assert width.endswith("%")
                assert float(width[:-1]) == pytest.approx(100 * entry["score"], abs=0.051)
            assert page.text_content("#error") == "" and page.text_content("#note") == ""

            long_text = "great film " * 20  # more tokens than the model reads, under the payload limit
            page.fill("#input", long_text)
            page.click("#score")
            page.wait_for_function("document.getElementById('note').textContent.length > 0", timeout=15000)
            assert page.text_content("#note") == ("The input was longer than the model reads: it was cut, "
                                                  "as in tunecard predict.")

            too_big = "a" * 450  # over the server's --payload_limit 400
            page.fill("#input", too_big)
            page.click("#score")
            page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=15000)
            body_bytes = len(json.dumps({"inputs": too_big}, separators=(",", ":")))
            assert page.text_content("#error") == (f"413: body: expected at most 400 bytes (--payload_limit); "
                                                   f"found {body_bytes}. Fix: send fewer or shorter inputs")
        finally:
            browser.close()


# ---- multiple choice and preference models -----------------------------------------------------------

@pytest.fixture(scope="module")
def mc_run(tiny_runs):
    return tiny_runs("multiple_choice")


@pytest.fixture(scope="module")
def preference_run(tiny_runs):
    return tiny_runs("preference")


def test_a_multiple_choice_model_ranks_the_options(mc_run):
    questions = make_questions(3, seed=7)
    asked = [(q["prompt"], [q[letter] for letter in "ABCD"]) for q in questions]
    ranker = tunecard.load(mc_run.output)
    probs = ranker.predict_proba([q for q, _ in asked], [o for _, o in asked])
    served = ServedModel(str(mc_run.output))
    with app_client(served) as client:
        assert client.get("/info").json()["labels"] == ["A", "B", "C", "D"]
        assert_error(client.post("/predict", json={"inputs": {"question": "q?", "options": list("abcde")}}), 422,
                     FIVE_OPTIONS)
        three = client.post("/predict", json={"inputs": {"question": asked[0][0], "options": asked[0][1][:3]}})
        assert three.status_code == 200, three.text  # fewer options than letters: D gets probability 0
        assert three.json()[-1] == {"label": "D", "score": 0.0}
        assert sum(e["score"] for e in three.json()) == pytest.approx(1, abs=1e-4)
        one = client.post("/predict", json={"inputs": {"question": asked[0][0], "options": asked[0][1]}})
        assert one.status_code == 200, one.text
        assert_scores(one.json(), probs[0], ["A", "B", "C", "D"])
        assert sum(e["score"] for e in one.json()) == pytest.approx(1, abs=1e-4)

        many = client.post("/predict", json={"inputs": [{"question": q, "options": o} for q, o in asked]})
        assert many.status_code == 200, many.text
        for result, row in zip(many.json(), probs):
            assert_scores(result, row, ["A", "B", "C", "D"])

        assert_error(client.post("/predict", json={"inputs": "just a text"}), 422,
                     "inputs: expected option columns A, B, ... beside a question column, a list column (options, "
                     "choices, endings), or OpenBookQA-style question.stem + question.choices; found columns text. "
                     "Fix: send inputs with the model's fields, e.g. "
                     + json.dumps(served.task.serve_example))


FIVE_OPTIONS = ("options in data to score: expected at most 4 options per question (the model's letters A-D); "
                "found row 1 has 5. Fix: score questions of up to 4 options, or train on data that has 5")


def test_too_many_options_names_the_request_row_whatever_came_before(mc_run):
    question = make_questions(1, seed=8)[0]
    good = {"question": question["prompt"], "options": [question[letter] for letter in "ABCD"]}
    with app_client(ServedModel(str(mc_run.output))) as client:
        assert client.post("/predict", json={"inputs": [good] * 4}).status_code == 200
        assert_error(client.post("/predict", json={"inputs": {"question": "q?", "options": list("abcde")}}), 422,
                     FIVE_OPTIONS)


def test_a_multiple_choice_question_without_options_is_422(mc_run):
    with app_client(ServedModel(str(mc_run.output)), raise_server_exceptions=False) as client:
        response = client.post("/predict", json={"inputs": {"question": "q?", "options": []}})
    assert response.status_code == 422, response.text


def test_a_preference_model_scores_pairs_and_texts_in_one_server(preference_run, tmp_path):
    pairs = [{"chosen": "a great and lovely answer", "rejected": "an awful boring answer"},
             {"chosen": "boring reply", "rejected": "a superb reply"}]
    texts = ["a wonderful reply", "a dreadful reply"]
    expected_pairs = pd.read_json(tunecard.predict(str(preference_run.output), write_jsonl(tmp_path / "p.jsonl", pairs),
                                                   str(tmp_path / "p-out.jsonl")), lines=True)
    expected_texts = pd.read_json(tunecard.predict(str(preference_run.output),
                                                   write_jsonl(tmp_path / "t.jsonl", [{"text": t} for t in texts]),
                                                   str(tmp_path / "t-out.jsonl")), lines=True)
    served = ServedModel(str(preference_run.output))
    # A second to gather company: the two pair requests form one batch, the two text requests another.
    with app_client(served, max_wait_ms=1000) as client:
        bodies = [{"inputs": pairs[0]}, {"inputs": texts[0]}, {"inputs": pairs[1]}, {"inputs": texts[1]}]
        responses: list = [None] * len(bodies)

        def post(i):
            responses[i] = client.post("/predict", json=bodies[i])

        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        samples = metric_samples(client.get("/metrics").text)
        assert all(r is not None and r.status_code == 200 for r in responses), [getattr(r, "text", r)
                                                                                for r in responses]
        for response, (_, row) in zip([responses[0], responses[2]], expected_pairs.iterrows()):
            result = response.json()
            assert set(result) == {"score_chosen", "score_rejected", "prefers_chosen"}
            assert result["score_chosen"] == pytest.approx(row["score_chosen"], abs=1e-5)
            assert result["score_rejected"] == pytest.approx(row["score_rejected"], abs=1e-5)
            assert result["prefers_chosen"] == bool(row["prefers_chosen"])
            assert result["prefers_chosen"] == (result["score_chosen"] > result["score_rejected"])
        for response, (_, row) in zip([responses[1], responses[3]], expected_texts.iterrows()):
            assert response.json()["prediction"] == row["prediction"]
            assert response.json()["score"] == pytest.approx(row["score"], abs=1e-5)
        assert metric(samples, "tunecard_batch_size_sum") == 4
        assert metric(samples, "tunecard_batch_size_count") == 2  # same shapes together, never mixed

        both = client.post("/predict", json={"inputs": [pairs[0], pairs[1]]})
        assert both.status_code == 200 and [r["prefers_chosen"] for r in both.json()] == \
            expected_pairs["prefers_chosen"].tolist()
        assert_error(client.post("/predict", json={"inputs": {"chosen": "x"}}), 422,
                     "inputs: expected preference pairs: a chosen and a rejected text column (and optionally a "
                     "prompt); found no 'rejected' column among chosen. Fix: send inputs with the model's fields, "
                     "e.g. " + json.dumps(served.task.serve_example))


# ---- CLI errors -----------------------------------------------------------------------------------

def test_serve_on_a_port_in_use_exits_2_with_one_line(run, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--model", str(run.output), "--port", str(port)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"tunecard: error: --host/--port: expected a free address to listen on; found 127.0.0.1:{port}: "
        "Address already in use. Fix: choose another --host or --port (or stop what is listening there)")


def test_serve_without_a_model_exits_2_with_one_line():
    done = subprocess.run([sys.executable, "-m", "tunecard", "serve"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert done.returncode == 2
    assert done.stderr == ("tunecard: error: --model: expected a run directory or model folder to serve; "
                           "found none. Fix: add --model runs/NAME\n")


def test_serve_a_missing_model_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["serve", "--model", str(missing), "--port", "0"]) == 2
    assert capsys.readouterr().err == (
        f"tunecard: error: model {missing}: expected a tunecard run directory or model folder with config.json; "
        "found no config.json there. Fix: point --model at a run directory or its model/ folder\n")


def test_serve_with_a_port_that_is_not_a_number_exits_2(capsys):
    assert main(["serve", "--model", "x", "--port", "abc"]) == 2
    assert capsys.readouterr().err == ("tunecard: error: --port: expected a whole number; found 'abc'. "
                                       "Fix: set --port to a whole number\n")
