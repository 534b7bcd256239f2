"""Continuous (iteration-level) batching, vLLM without chunked prefill: finished requests leave and waiting
ones join at every iteration; an iteration is either prefills of newly admitted requests (they go first) or
one decode step of every running request. Admission needs a sequence slot (max_num_seqs), room in the
token budget (max_batched_tokens) and free KV blocks for the whole prompt."""

from simulator.serving.plan import Plan, admit_cached, reserve_decodes, swap_in


def plan_continuous(inst) -> Plan | None:
    q, pool, book, sched = inst.queues, inst.pool, inst.book, inst.serving.scheduler
    plan = Plan()
    swap_in(q, pool, book, plan, sched.max_num_seqs)
    while q.incoming and len(q.running) < sched.max_num_seqs:  # disaggregated: KV already here
        rid = q.incoming[0]
        if not pool.grow(rid, book.context(rid) + 1):
            break
        q.running.append(q.incoming.popleft())
    tokens = 0
    while q.waiting and len(q.running) < sched.max_num_seqs:
        rid = q.waiting[0]
        admit_cached(rid, book, inst.serving.kv.prefix_hit_rate)
        new = int(book.target[rid] - book.computed[rid])
        if plan.prefills and tokens + new > sched.max_batched_tokens:
            break
        if not pool.grow(rid, int(book.target[rid])):
            break
        q.running.append(q.waiting.popleft())
        plan.prefills.append((rid, new))
        tokens += new
    if plan.prefills:
        return plan
    if inst.role == "prefill":
        return None
    steps = sched.steps
    spec = inst.serving.speculative
    lookahead = steps if spec is None else spec.tokens + 1  # blocks for every token the call may keep
    plan.decodes = reserve_decodes(q, pool, book, inst.serving.kv.preemption, plan, lookahead)
    if not len(plan.decodes):
        return plan if plan.swapped_blocks else None
    plan.steps = min(steps, int((book.output[plan.decodes] - book.generated[plan.decodes]).max()))
    return plan
