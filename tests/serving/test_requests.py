"""Requests: seeded and deterministic, with the moments their distributions promise; request files read
strictly, every bad row one line naming the file, line and field."""


import numpy as np
import pytest
from pydantic import ValidationError

from simulator.errors import ConfigError
from simulator.serving.requests import generate, read_request_file
from simulator.workloads.serving import Serving, parse_seconds


def _serving(**fields) -> Serving:
    return Serving.model_validate({"requests": 20000, **fields})


def test_same_seed_same_requests_other_seed_others():
    a, b = generate(_serving(seed=7)), generate(_serving(seed=7))
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(a.prompt, b.prompt)
    assert not np.array_equal(a.arrival_s, generate(_serving(seed=8)).arrival_s)


def test_poisson_gaps_are_exponential_at_the_rate():
    r = generate(_serving(arrival="poisson:20"))
    gaps = np.diff(r.arrival_s)
    assert gaps.mean() == pytest.approx(1 / 20, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.03)  # exponential: cv 1


@pytest.mark.parametrize("cv", [0.5, 2.0, 4.0])
def test_gamma_gaps_have_the_asked_burstiness(cv):
    gaps = np.diff(generate(_serving(arrival=f"gamma:10,{cv}")).arrival_s)
    assert gaps.mean() == pytest.approx(0.1, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.08)


def test_constant_and_offline_arrivals():
    assert np.allclose(np.diff(generate(_serving(arrival="constant:4")).arrival_s), 0.25)
    assert not generate(_serving(arrival="offline")).arrival_s.any()


def test_lengths():
    r = generate(_serving(prompt="lognormal:1000,0.9", output="uniform:10,20"))
    assert np.median(r.prompt) == pytest.approx(1000, rel=0.03)
    assert np.log(r.prompt).std() == pytest.approx(0.9, rel=0.03)
    assert r.output.min() >= 10 and r.output.max() <= 20
    assert set(generate(_serving(prompt=64)).prompt) == {64}
    table = generate(_serving(prompt={"kind": "table", "tokens": [10, 100], "weights": [3, 1]})).prompt
    assert (table == 10).mean() == pytest.approx(0.75, abs=0.02)
    clipped = generate(_serving(prompt={"kind": "lognormal", "median": 1000, "sigma": 2, "max": 1500})).prompt
    assert clipped.max() == 1500 and clipped.min() >= 1


@pytest.mark.parametrize("bad,says", [("weibull:3", "unknown"), ("lognormal:100", "must be written"),
                                      ("uniform:20,10", "high must be"), (0, "greater than or equal")])
def test_bad_length_forms_say_what_is_allowed(bad, says):
    with pytest.raises(ValidationError, match=says):
        _serving(prompt=bad)


def test_durations():
    assert parse_seconds("200 ms") == pytest.approx(0.2)
    assert parse_seconds("2s") == 2 and parse_seconds(1.5) == 1.5 and parse_seconds("50 us") == pytest.approx(5e-5)
    for bad in ("-1 s", "1e400 s", "fast", True, float("nan")):
        with pytest.raises(ValueError):
            parse_seconds(bad)


def test_request_files_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"arrival_s": 0.5, "prompt_tokens": 10, "output_tokens": 3, "id": "b"}\n\n'
                     '{"arrival_s": 0.1, "prompt_tokens": 20, "output_tokens": 4, "id": "a"}\n')
    r = read_request_file(jsonl)
    assert r.ids == ("a", "b") and list(r.prompt) == [20, 10] and list(r.arrival_s) == [0.1, 0.5]
    csv = tmp_path / "r.csv"
    csv.write_text("arrival_s,prompt_tokens,output_tokens\n0,5,6\n1.5,7,8\n")
    assert list(read_request_file(csv).output) == [6, 8]


@pytest.mark.parametrize("line,says", [
    ('{"arrival_s": 0, "prompt_tokens": 10}', "output_tokens"),
    ('{"arrival_s": -1, "prompt_tokens": 10, "output_tokens": 2}', "arrival_s"),
    ('{"arrival_s": 0, "prompt_tokens": 2.5, "output_tokens": 2}', "an integer"),
    ('{"arrival_s": 0, "prompt_tokens": 10, "output_tokens": 2', "one JSON object"),
    ('[1, 2]', "a JSON object"),
])
def test_bad_request_rows_are_one_line(tmp_path, line, says):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError, match=says) as caught:
        read_request_file(path)
    assert f"{path}:1" in str(caught.value) and "\n" not in str(caught.value)


def test_empty_and_binary_files(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError, match="at least one request"):
        read_request_file(empty)
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="UTF-8"):
        read_request_file(binary)
