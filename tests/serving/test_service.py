"""The serving loop against what must hold: one request at a time is today's `generate`; a static offline
batch is a batched `generate`; Little's law; saturation; policies compared; KV accounting; determinism."""

from pathlib import Path

import numpy as np
import pytest

from simulator.api import run_llm
from simulator.errors import CapacityError, ConfigError
from simulator.serving.service import simulate_service
from simulator.workloads.loader import load_workload

ONE = """\
requests: 1
arrival: offline
prompt: fixed:{prompt}
output: fixed:{output}
timing: exact
"""


def _generate(h100, batch, prompt, output):
    w = load_workload("workloads/llama3_8b_generate.yaml", [
        "model.num_hidden_layers=2", f"scenario.batch={batch}", f"scenario.prompt={prompt}",
        f"scenario.output_tokens={output}"])
    return run_llm(h100, w).summary


@pytest.mark.parametrize("prompt,output", [(300, 5), (128, 1), (1000, 17)])
def test_one_request_is_a_generate_run_exactly(h100, service, prompt, output):
    served = simulate_service(h100, service(ONE.format(prompt=prompt, output=output))).summary
    generate = _generate(h100, 1, prompt, output)
    assert served["ttft_mean_s"] == generate["ttft_s"]
    assert served["e2e_mean_s"] == generate["e2e_s"]
    if output > 1:
        assert served["tpot_mean_s"] == pytest.approx(generate["tpot_s"], rel=1e-12)


def test_offline_static_batching_is_a_batched_generate(h100, service):
    w = service("""\
        requests: 12
        arrival: offline
        prompt: fixed:200
        output: fixed:9
        scheduler: {policy: static, max_num_seqs: 12}
        timing: exact
        """)
    served = simulate_service(h100, w)
    generate = _generate(h100, 12, 200, 9)
    table = served.requests_table
    assert (table["ttft_s"] == generate["ttft_s"]).all()
    assert (table["e2e_s"] == generate["e2e_s"]).all()


def test_static_batches_wait_for_each_other(h100, service):
    """12 requests, batches of 4: the second batch's first token comes after the first batch's last."""
    w = service("""\
        requests: 12
        arrival: offline
        prompt: fixed:100
        output: fixed:5
        scheduler: {policy: static, max_num_seqs: 4}
        """)
    table = simulate_service(h100, w).requests_table
    first_batch_end = table["finish_s"][:4].max()
    assert (table["first_token_s"][4:8] > first_batch_end).all()
    assert table["first_token_s"][4:8].nunique() == 1


LOAD = """\
requests: {n}
seed: 3
arrival: poisson:{rate}
prompt: {{kind: lognormal, median: 200, sigma: 0.5, max: 1024}}
output: {{kind: lognormal, median: 64, sigma: 0.5, max: 256}}
scheduler: {{policy: {policy}, max_num_seqs: 64, max_batched_tokens: 4096, token_budget: 256}}
"""


def test_littles_law_and_throughput_below_saturation(h100, service):
    """At a stable load the service keeps up (completions at the arrival rate) and the mean number of
    requests in the system is the arrival rate × the mean latency (Little), within sampling error."""
    rate, n = 20.0, 1500
    s = simulate_service(h100, service(LOAD.format(n=n, rate=rate, policy="continuous"))).summary
    assert s["completed"] == n
    assert s["requests_per_s"] == pytest.approx(rate, rel=0.08)
    assert s["mean_in_system"] == pytest.approx(rate * s["e2e_mean_s"], rel=0.08)


def test_beyond_saturation_queues_grow_and_throughput_plateaus(h100, service):
    offline = simulate_service(h100, service(LOAD.format(n=600, rate=1, policy="continuous").replace(
        "poisson:1", "offline"))).summary
    saturated = offline["requests_per_s"]
    short = simulate_service(h100, service(LOAD.format(n=300, rate=3 * saturated, policy="continuous"))).summary
    long = simulate_service(h100, service(LOAD.format(n=600, rate=3 * saturated, policy="continuous"))).summary
    assert long["queue_mean_s"] > 1.5 * short["queue_mean_s"]  # grows with the length of the run
    assert long["requests_per_s"] == pytest.approx(saturated, rel=0.1)


def test_continuous_batching_is_never_worse_than_static(h100, service):
    for rate in (5, 20):
        static = simulate_service(h100, service(LOAD.format(n=300, rate=rate, policy="static"))).summary
        cont = simulate_service(h100, service(LOAD.format(n=300, rate=rate, policy="continuous"))).summary
        assert cont["e2e_mean_s"] <= static["e2e_mean_s"]
        assert cont["ttft_mean_s"] <= static["ttft_mean_s"]


def test_chunked_prefill_lowers_p99_tpot_under_long_prompts(h100, service):
    heavy = """\
        requests: 200
        seed: 1
        arrival: poisson:6
        prompt: fixed:3000
        output: fixed:64
        scheduler: {policy: POLICY, max_num_seqs: 64, max_batched_tokens: 8192, token_budget: 512}
        """
    cont = simulate_service(h100, service(heavy.replace("POLICY", "continuous"))).summary
    chunked = simulate_service(h100, service(heavy.replace("POLICY", "chunked"))).summary
    assert chunked["tpot_p99_s"] < cont["tpot_p99_s"]


@pytest.mark.parametrize("mode", ["recompute", "swap"])
@pytest.mark.parametrize("policy", ["continuous", "chunked"])
def test_preemption_keeps_the_books(h100, service, mode, policy):
    """A cache of 120 blocks (1,920 tokens) for 40 requests at once: requests are preempted, every one still
    finishes, its tokens are counted once, and the blocks in use never pass the capacity."""
    w = service(f"""\
        requests: 40
        arrival: offline
        prompt: fixed:100
        output: fixed:200
        scheduler: {{policy: {policy}, max_num_seqs: 40}}
        kv: {{blocks: 120, preemption: {mode}}}
        """)
    result = simulate_service(h100, w)
    s, table = result.summary, result.iterations_table
    assert s["preemptions"] > 0 and s["completed"] == 40
    assert s["output_tokens"] == 40 * 200
    assert table["kv_blocks"].max() <= 120 and s["kv_peak_share"] <= 1
    if mode == "swap":
        assert table["swap_s"].sum() > 0


def test_same_seed_same_requests_file(h100, service, tmp_path):
    w = service(LOAD.format(n=200, rate=10, policy="chunked"))
    a = simulate_service(h100, w).requests_table.to_csv(index=False)
    b = simulate_service(h100, w).requests_table.to_csv(index=False)
    assert a == b
    other = service(LOAD.format(n=200, rate=10, policy="chunked").replace("seed: 3", "seed: 4"))
    assert simulate_service(h100, other).requests_table.to_csv(index=False) != a


def test_multi_step_streams_tokens_in_chunks(h100, service):
    """vLLM's multi-step scheduling: the host cost once per call, the tokens streamed at its end, so ITL ≈
    steps × TPOT while the host cost per token falls (../shared/reference/serving.md §2.4)."""
    base = """\
        requests: 64
        arrival: offline
        prompt: fixed:100
        output: fixed:101
        scheduler: {policy: continuous, max_num_seqs: 64, overhead: 20 ms, steps: STEPS}
        """
    one = simulate_service(h100, service(base.replace("STEPS", "1"))).summary
    ten = simulate_service(h100, service(base.replace("STEPS", "10"))).summary
    assert ten["output_tokens_per_s"] > 1.5 * one["output_tokens_per_s"]
    assert ten["itl_p50_s"] == pytest.approx(10 * ten["tpot_p50_s"], rel=0.1)


def test_disaggregated_prefill_hands_the_cache_over(h100, service):
    """One request: TTFT is the prefill instance's; the decode instance starts after the KV transfer."""
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    dgx = Chip(load_chip("dgx_h100", []))
    mono = simulate_service(dgx, service(ONE.format(prompt=500, output=20))).summary
    w = service(ONE.format(prompt=500, output=20) + """\
scheduler: {policy: disaggregated}
disaggregation: {prefill_instances: 1, decode_instances: 1, kv_bandwidth: 50 GB/s, kv_latency: 10 us}
""")
    result = simulate_service(dgx, w)
    s = result.summary
    assert s["ttft_mean_s"] == mono["ttft_mean_s"]
    kv_bytes = 2 * 2 * 8 * 128 * 2 * 501  # layers × K,V × KV heads × head_dim × bf16 × tokens
    transfer = 10e-6 + kv_bytes / 50e9
    assert s["e2e_mean_s"] == pytest.approx(mono["e2e_mean_s"] + transfer, abs=2 / dgx.clock_hz)
    assert result.requests_table["instance"][0] == 1  # served (decoded) by the decode instance


def _long_request_file(service) -> str:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "long.jsonl"
    path.write_text('{"arrival_s": 0, "prompt_tokens": 8000, "output_tokens": 500}\n')
    return str(path)


def test_what_cannot_be_served_is_one_line(h100, service):
    with pytest.raises(ConfigError, match="parallel.pp"):
        simulate_service(h100, service(ONE.format(prompt=10, output=2), parallel="pp: 2\n"))
    with pytest.raises(CapacityError, match="KV blocks"):
        simulate_service(h100, service(ONE.format(prompt=3000, output=2) + "kv: {blocks: 10}\n"))
    with pytest.raises(ConfigError, match="max_position_embeddings"):  # a request file is checked, not clipped
        simulate_service(h100, service(f"trace_file: {_long_request_file(service)}\n"))


def test_tokens_and_requests_are_conserved(h100, service):
    result = simulate_service(h100, service(LOAD.format(n=300, rate=30, policy="chunked")))
    table, s = result.requests_table, result.summary
    assert s["output_tokens"] == int(table["output_tokens"].sum())
    assert (table["first_token_s"] >= table["arrival_s"]).all()
    assert (table["finish_s"] >= table["first_token_s"]).all()
    assert np.all(table["scheduled_s"] >= table["arrival_s"])
    iters = result.iterations_table
    assert iters["prefill_tokens"].sum() >= table["prompt_tokens"].sum()  # prompts computed at least once


SPEC = """\
requests: 1
arrival: offline
prompt: fixed:300
output: fixed:11
timing: exact
speculative: {{draft: llama3_8b, tokens: 4, acceptance: {a}}}
"""


@pytest.mark.parametrize("acceptance,steps", [(1.0, 2), (0.0, 10)])
def test_speculative_decoding_keeps_what_is_accepted(h100, service, acceptance, steps):
    """With every draft token accepted a step yields k + 1 = 5 tokens (10 after the prefill's first: 2
    steps); with none, one. A step costs k draft decodes and the target's check of k + 1 queries."""
    from pathlib import Path

    from simulator.serving.cost import IterationCost
    from simulator.workloads.loader import resolve_model_path
    from simulator.workloads.model import load_model

    w = service(SPEC.format(a=acceptance))
    result = simulate_service(h100, w)
    table = result.iterations_table
    assert result.summary["output_tokens"] == 11 and len(table) == 1 + steps
    target = IterationCost(h100, w.model, w.scenario, w.parallel, None, "exact")
    draft_model = load_model(resolve_model_path("llama3_8b", Path("."), "test"))  # the whole model, uncut
    draft = IterationCost(h100, draft_model, w.scenario, w.parallel, None, "exact")
    cycles = target.iteration([], [(300, 0, True)]) + draft.iteration([], [(300, 0, True)])
    context = 300
    for _ in range(steps):
        cycles += sum(draft.iteration([context + j], []) for j in range(4)) + target.verify([context], 4, [])
        context += 5 if acceptance == 1 else 1
    assert result.loop.book.finish[0] == cycles


def test_speculative_decoding_is_refused_with_static_batching(h100, service):
    with pytest.raises(ConfigError, match="speculative"):
        simulate_service(h100, service(SPEC.format(a=0.5) + "scheduler: {policy: static}\n"))


def test_prefix_groups_compute_their_shared_prompt_once(h100, service, tmp_path):
    """Ten requests share a 500-token system prompt: the first prefills all 600 tokens, each later one (after
    it) only its own 100; requests of no group compute everything."""
    import json

    path = tmp_path / "reqs.jsonl"
    rows = [{"arrival_s": i * 0.5, "prompt_tokens": 600, "output_tokens": 3, "prefix": "system", "prefix_tokens": 500}
            for i in range(10)] + [{"arrival_s": 6.0, "prompt_tokens": 600, "output_tokens": 3}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = simulate_service(h100, service(f"trace_file: {path}\n"))
    assert int(result.iterations_table["prefill_tokens"].sum()) == 600 + 9 * 100 + 600
    assert list(result.requests_table["cached_tokens"]) == [0] + [500] * 9 + [0]


def test_drawn_lengths_are_clipped_to_the_context_and_say_so(h100, service):
    s = simulate_service(h100, service("""\
        requests: 50
        arrival: offline
        prompt: lognormal:6000,1.0
        output: lognormal:3000,1.0
        """))
    table = s.requests_table
    assert s.summary["requests_clipped"] > 0
    assert (table["prompt_tokens"] + table["output_tokens"] <= 8192).all()
    assert any("clipped" in note for note in s.summary["assumptions"])
