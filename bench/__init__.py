"""Benchmark harness for the gateway: ``python -m bench`` (or ``make bench``).

It starts a fast fake OpenAI upstream (``bench.fake_upstream``) and the gateway as separate processes,
each pinned to its own core, drives both the direct path (client → fake) and the gateway path
(client → gateway → fake) with ``wrk``, and reports the gateway's added latency, throughput and CPU
time per request as ratios against the direct path.

Scenarios are data (``bench.scenarios.SCENARIOS``): adding one is adding one entry to that list.
"""
