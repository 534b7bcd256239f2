"""Static (request-level) batching: up to max_num_seqs waiting requests form a batch when the engine is
free; it is padded to its longest prompt, prefilled together, and decoded until its longest output is
done, finished sequences included (their slots idle, as in a plain `generate`). New requests wait for the
whole batch. The KV cache for the padded lengths is reserved up front."""

import numpy as np

from simulator.serving.plan import Plan


def plan_static(inst) -> Plan | None:
    q, pool, book, sched = inst.queues, inst.pool, inst.book, inst.serving.scheduler
    if q.batch and any(book.generated[r] < book.output[r] for r in q.batch):
        prompt = int(max(book.prompt[r] for r in q.batch))
        q.batch_step += 1
        return Plan(decodes=np.asarray(q.batch, dtype=np.int64), padded=(len(q.batch), 1, prompt + q.batch_step - 1))
    for rid in q.batch:
        pool.release(rid)
    q.batch, q.batch_step = [], 0
    if not q.waiting:
        return None
    batch: list[int] = []
    while q.waiting and len(batch) < sched.max_num_seqs:
        rid = q.waiting[0]
        members = batch + [rid]
        prompt = max(book.prompt[r] for r in members)
        length = prompt + max(book.output[r] for r in members) - 1
        if len(members) * pool.layout.blocks_for(length) > pool.capacity or len(members) * prompt > max(
                sched.max_batched_tokens, prompt):
            break
        batch.append(q.waiting.popleft())
    if not batch:  # a single request longer than the cache: refused before the run starts (loop.py)
        return None
    prompt = int(max(book.prompt[r] for r in batch))
    length = prompt + max(book.output[r] for r in batch) - 1
    for rid in batch:
        pool.grow(rid, length)
    q.batch = batch
    return Plan(prefills=[(rid, book.prompt[rid]) for rid in batch], padded=(len(batch), prompt, 0))
