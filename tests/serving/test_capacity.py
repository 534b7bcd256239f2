"""The capacity search: the rate it finds meets the SLOs and a rate a little above it does not; the search
is deterministic and bounded by the offline throughput."""

import pytest

from simulator.errors import ConfigError
from simulator.serving.capacity import find_capacity, meets
from simulator.serving.service import simulate_service
from simulator.workloads.serving import PoissonArrivals

LOAD = """\
requests: 300
seed: 2
arrival: poisson:5
prompt: {kind: lognormal, median: 300, sigma: 0.5, max: 2048}
output: {kind: lognormal, median: 64, sigma: 0.5, max: 256}
scheduler: {policy: continuous, max_num_seqs: 32, max_batched_tokens: 4096}
slo: {ttft: 60 ms, percentile: 90}
"""


def test_the_rate_found_meets_the_slo_and_a_higher_one_misses(h100, service):
    w = service(LOAD)
    found = find_capacity(h100, w, w.serving, tolerance=0.02)
    assert found.rate is not None and 0 < found.rate <= found.summary["offline_requests_per_s"] * 1.05
    ok, figures = meets(found.best, w.serving)
    assert ok and figures["ttft_p90_s"] <= 0.060
    above = simulate_service(h100, w, w.serving.model_copy(update={"arrival": PoissonArrivals(
        kind="poisson", rate=found.rate * 1.1)}))
    assert not meets(above, w.serving)[0]
    again = find_capacity(h100, w, w.serving, tolerance=0.02)
    assert again.rate == found.rate and [p.rate for p in again.probes] == [p.rate for p in found.probes]


def test_a_search_needs_a_limit(h100, service):
    w = service(LOAD.replace("slo: {ttft: 60 ms, percentile: 90}", ""))
    with pytest.raises(ConfigError, match="serving.slo"):
        find_capacity(h100, w, w.serving)
