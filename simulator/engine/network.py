"""The system's links in the simpy engine: a flow-level (fluid) network with max-min fair sharing.

A message waits its route's latency, then its bytes flow over every link of the route at once
(cut-through). All flows in progress share the links max-min fairly (progressive filling), recomputed
whenever a flow starts or ends, so concurrent collectives slow each other exactly where their routes
meet. The fluid state is kept in exact float time; completions reach simpy at the next whole cycle, so
simulation time stays integer cycles. The network moves from event to event, never cycle by cycle.
Links that can never limit a flow (Link.binding false: a non-blocking leaf's uplink) carry bytes but take
no part in the sharing.

A collective on idle links (`collective_cycles`) is reduced first (mapping/symmetry.py): one group per class
of independent, symmetric groups, a ring as one position where its links treat every position alike. The
time of what is left is the collective's time; it is computed once per shape of what is left.
"""

import math
import weakref
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from simulator.hardware.topology import Topology
from simulator.ir.program import Message
from simulator.mapping.collectives import IDEAL, Transport, transport
from simulator.mapping.symmetry import reduce_block

if TYPE_CHECKING:
    import simpy

_EPS = 1e-6  # cycles: finishing this close to a whole cycle counts as finishing on it


class _Flow:
    """`nbytes` on the wire (the protocol's flags and padding included), `payload` of them data; `cap`: the
    most wire bytes per cycle it can move whatever the links offer (None: the links decide)."""

    __slots__ = ("route", "nbytes", "left", "rate", "done", "payload", "cap")

    def __init__(self, route, nbytes, done, payload=None, cap=None):
        self.route, self.nbytes, self.left, self.rate, self.done = route, nbytes, nbytes, 0.0, done
        self.payload, self.cap = nbytes if payload is None else payload, cap


def _time_left(flow: _Flow) -> float:
    return flow.left / flow.rate if flow.rate > 0 else math.inf


class Network:
    """Messages over the links of `topology`; `link_bytes` and `link_busy` count what each link did."""

    def __init__(self, env: "simpy.Environment", topology: Topology):
        self.env, self.topology = env, topology
        n = len(topology.links)
        self._capacity, self._binding = topology.rates, topology.binding
        self.link_bytes = [0.0] * n  # bytes carried, added when a message arrives
        self._busy = [0.0] * n  # closed busy periods
        self._busy_since = [0.0] * n
        self._users = [0] * n  # flows on each link
        self._flows: list[_Flow] = []
        self._now = 0.0  # exact time the fluid state is at
        self._rates_stale = False
        self._wakes: set[int] = set()

    @property
    def link_busy(self) -> list[float]:
        """Cycles during which at least one flow used each link (up to the fluid state's time)."""
        return [b + (self._now - s if u else 0.0) for b, s, u in zip(self._busy, self._busy_since, self._users,
                                                                      strict=True)]

    def send(self, src: int, dst: int, nbytes: float, how: Transport = IDEAL) -> "simpy.Event":
        """An event that fires at the cycle the message has fully arrived; `how`: the collective library's
        protocol (mapping/collectives.py `transport`), which puts more bytes on the wire than the payload and
        adds latency per hop."""
        done = self.env.event()
        route, wait = self.topology.route(src, dst), self.topology.latency(src, dst)
        if how.hop_cycles:
            wait += self.topology.hops(src, dst) * how.hop_cycles
        if nbytes <= 0 or not route:
            self.env.timeout(wait).callbacks.append(lambda _: done.succeed())
            return done
        flow = _Flow(route, float(nbytes) * how.wire, done, float(nbytes), how.cap)
        if wait:
            self.env.timeout(wait).callbacks.append(lambda _: self._start(flow))
        else:
            self._start(flow)
        return done

    def run(self, messages: Sequence[Message], how: Transport = IDEAL) -> "simpy.Event":
        """Launch a DAG of messages, each once its deps have arrived (the first after `how.base_cycles`, the
        protocol's fixed cost); fires when all have arrived."""
        finished = self.env.event()
        if not messages:
            return finished.succeed()
        if how.base_cycles:
            started = self.env.timeout(how.base_cycles)
            started.callbacks.append(lambda _: self.run(messages, Transport(how.protocol, how.wire, how.hop_cycles,
                                                                           0, how.cap)).callbacks.append(
                lambda _: finished.succeed()))
            return finished
        waiting = [len(m.deps) for m in messages]
        after: list[list[int]] = [[] for _ in messages]
        for i, m in enumerate(messages):
            for d in m.deps:
                after[d].append(i)
        left = [len(messages)]

        def arrived(i: int):
            left[0] -= 1
            for j in after[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    launch(j)
            if left[0] == 0:
                finished.succeed()

        def launch(i: int):
            m = messages[i]
            self.send(m.src, m.dst, m.bytes, how).callbacks.append(lambda _: arrived(i))

        for i in range(len(messages)):
            if not waiting[i]:
                launch(i)
        return finished

    # The fluid state ---------------------------------------------------------------------------------

    def _start(self, flow: _Flow):
        now = self.env.now
        self._advance(now)
        self._flows.append(flow)
        for link in flow.route:
            if self._users[link] == 0:
                self._busy_since[link] = now
            self._users[link] += 1
        if not self._rates_stale:  # flows starting in the same cycle share one rate computation
            self._rates_stale = True
            self.env.timeout(0).callbacks.append(self._settle)

    def _settle(self, _=None):
        self._advance(self.env.now)
        if self._rates_stale:
            self._rates_stale = False
            self._share()
        self._schedule_wake()

    def _on_wake(self, event):
        self._wakes.discard(self.env.now)
        self._advance(self.env.now)
        if not self._rates_stale:  # else the pending settle schedules the next wake-up
            self._schedule_wake()

    def _schedule_wake(self):
        if not self._flows:
            return
        finish = self._now + min(_time_left(f) for f in self._flows)
        if math.isinf(finish):
            return
        cycle = max(math.ceil(finish - _EPS), self.env.now)
        if cycle not in self._wakes:
            self._wakes.add(cycle)
            self.env.timeout(cycle - self.env.now).callbacks.append(self._on_wake)

    def _advance(self, target: float):
        """Move the fluid state to `target`, ending each flow at its exact finish time on the way."""
        while self._flows and not self._rates_stale:
            dt, first = min((_time_left(f), i) for i, f in enumerate(self._flows))
            if self._now + dt > target + _EPS:
                break
            self._flow(dt)
            self._flows[first].left = 0.0
            ended = [f for f in self._flows if f.left <= 1e-9 * f.nbytes]
            self._flows = [f for f in self._flows if f.left > 1e-9 * f.nbytes]
            for f in ended:
                self._end(f)
            self._share()
        if target > self._now:
            self._flow(target - self._now)

    def _flow(self, dt: float):
        for f in self._flows:
            f.left -= f.rate * dt
        self._now += dt

    def _end(self, flow: _Flow):
        for link in flow.route:
            self.link_bytes[link] += flow.payload
            self._users[link] -= 1
            if self._users[link] == 0:
                self._busy[link] += self._now - self._busy_since[link]
        flow.done.succeed()  # at the whole cycle the exact finish rounds up to: the current one

    def _share(self):
        """Max-min fair rates by progressive filling: the links with the smallest fair share of what is
        left fix the rate of their flows; repeat with the rest. Freezing every link at the minimum at
        once is exact (the others' shares cannot fall) and keeps symmetric collectives to one round. A flow's
        `cap` is a link of its own (key -1 - its index) that only it uses."""
        on: dict[int, list[_Flow]] = {}
        binding = self._binding
        spare = {}
        for i, f in enumerate(self._flows):
            limited = False
            for link in f.route:
                if binding[link]:
                    on.setdefault(link, []).append(f)
                    limited = True
            if f.cap is not None:
                on[-1 - i], spare[-1 - i] = [f], f.cap
                limited = True
            if not limited:  # only links that cannot limit it: it moves at its route's least rate
                f.rate = min(self._capacity[link] for link in f.route)
        own = {id(f): -1 - i for i, f in enumerate(self._flows) if f.cap is not None}
        spare |= {link: self._capacity[link] for link in on if link >= 0}
        count = {link: len(fs) for link, fs in on.items()}
        fixed = set()
        while count:
            shares = {lk: spare[lk] / c for lk, c in count.items()}
            least = min(shares.values())
            for link in [lk for lk, share in shares.items() if share <= least * (1 + 1e-12)]:
                for f in on[link]:
                    if id(f) in fixed:
                        continue
                    fixed.add(id(f))
                    f.rate = least
                    mine = (own[id(f)],) if id(f) in own else ()
                    for other in f.route + mine:
                        if other >= 0 and not binding[other]:
                            continue
                        spare[other] = max(spare[other] - least, 0.0)
                        count[other] -= 1
                        if not count[other]:
                            del count[other]


def collective_cycles(topology: Topology, kind: str, algorithm: str, groups, nbytes: float) -> int:
    """Cycles for `groups` to run the collective together on otherwise idle links."""
    return _cycles(topology, kind, algorithm, tuple(tuple(g) for g in groups), float(nbytes))


_TIMED: "weakref.WeakKeyDictionary[Topology, dict]" = weakref.WeakKeyDictionary()


@lru_cache(maxsize=4096)
def _cycles(topology: Topology, kind: str, algorithm: str, groups: tuple, nbytes: float) -> int:
    (reduced,) = reduce_block(topology, [(kind, algorithm, groups, nbytes)], links=False)
    how = transport(topology, kind, algorithm, groups, nbytes)
    timed = _TIMED.setdefault(topology, {})
    key = (reduced.key, how)
    if key not in timed:
        timed[key] = messages_cycles(topology, reduced.messages, how)
    return timed[key]


def messages_cycles(topology: Topology, messages: Sequence[Message], how: Transport = IDEAL) -> int:
    """Cycles for a DAG of messages on otherwise idle links, moved as `how` says."""
    import simpy  # here, not at import: a run that needs no events never loads it

    env = simpy.Environment()
    finished = Network(env, topology).run(messages, how)
    env.run(until=finished)
    return int(env.now)
