"""Batching policies, one module each, registered by the name `serving.scheduler.policy` takes.

A policy looks at one instance (its queues, its KV pool, the requests' progress) and returns the next
iteration's `Plan`, reserving the KV blocks it needs (and preempting to get them), or None when the
instance has nothing it can run. The loop (serving/loop.py) times the plan and applies it."""

from simulator.serving.policies.chunked import plan_chunked
from simulator.serving.policies.continuous import plan_continuous
from simulator.serving.policies.static import plan_static

POLICIES = {
    "static": plan_static,
    "continuous": plan_continuous,
    "chunked": plan_chunked,
    "disaggregated": plan_continuous,  # each pool batches continuously; the loop hands requests between them
}
