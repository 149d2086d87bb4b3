"""Benchmark harness for the gateway: ``python -m bench`` (or ``make bench``).

It starts a fast fake OpenAI upstream (``bench.fake_upstream``), a bare aiohttp pass-through proxy
(``bench.bare_proxy``, the baseline) and the gateway as separate processes, the upstream on one core
and the proxies on the other, drives the direct path (client → fake), the baseline path (client →
proxy → fake) and the gateway path (client → gateway → fake) with ``wrk``, and reports the gateway's
added latency, throughput and CPU time per request against the direct path and against the baseline.
After the scenarios, ``bench.first_byte_rounds`` times the first event of a streamed answer on the
same processes with a one-connection client of its own (``bench.first_byte``).

Scenarios are data (``bench.scenarios.SCENARIOS``): adding one is adding one entry to that list.

``bench.endpoints`` starts the processes, ``bench.runner`` runs each scenario on them (its runs'
figures: ``bench.run_result``), ``bench.targets`` holds the goals, ``bench.report`` prints the
tables and writes them as Markdown, ``bench.record`` the run's JSON.
"""
