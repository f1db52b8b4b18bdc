"""What drives the app from outside to measure it: the load test (``load_test.py``), the soak (``soak.py``), the
API and page benchmarks (``api_benchmark.py``, ``page_benchmark.py``) and their shared report (``report.py``).
Their commands are ``scripts/load_test.py``, ``scripts/soak.py``, ``scripts/benchmark_app.py`` and
``scripts/benchmark_page.py``; the page itself is ``app.py`` and ``webapp/``."""
