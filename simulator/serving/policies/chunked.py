"""Chunked prefill with a token budget (Sarathi-Serve; vLLM with chunked prefill): every iteration carries
one token of each running decode first (stall-free), then fills what is left of `token_budget` with prefill
chunks — the unfinished prompts of running requests, then newly admitted ones, first come first served."""

from simulator.serving.plan import Plan, admit_cached, reserve_decodes, swap_in


def plan_chunked(inst) -> Plan | None:
    q, pool, book, sched = inst.queues, inst.pool, inst.book, inst.serving.scheduler
    plan = Plan()
    swap_in(q, pool, book, plan, sched.max_num_seqs)
    spec = inst.serving.speculative
    width = 1 if spec is None else spec.tokens + 1  # a speculative decode is a chunk of k + 1 queries
    plan.decodes = reserve_decodes(q, pool, book, inst.serving.kv.preemption, plan, width)
    budget = sched.token_budget - width * len(plan.decodes)
    for rid in q.running:  # unfinished prompts go on where they stopped
        if budget <= 0:
            break
        if book.prefilling(rid):
            chunk = min(budget, int(book.target[rid] - book.computed[rid]))
            if not pool.grow(rid, int(book.computed[rid]) + chunk):
                break
            plan.prefills.append((rid, chunk))
            budget -= chunk
    while budget > 0 and q.waiting and len(q.running) < sched.max_num_seqs:
        rid = q.waiting[0]
        admit_cached(rid, book, inst.serving.kv.prefix_hit_rate)
        chunk = min(budget, int(book.target[rid] - book.computed[rid]))
        if not pool.grow(rid, int(book.computed[rid]) + chunk):
            break
        q.running.append(q.waiting.popleft())
        plan.prefills.append((rid, chunk))
        budget -= chunk
    if not len(plan.decodes) and not plan.prefills:
        return plan if plan.swapped_blocks else None
    return plan
