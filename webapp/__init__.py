"""The page's companions: the error contract (``errors.py``), workarounds for Gradio (``gradio_fixes.py``), the drawing pad (``pad.js``, ``page.css``), the load test, the soak and the benchmarks."""
