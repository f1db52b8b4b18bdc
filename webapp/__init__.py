"""The page's companions: workarounds for Gradio (``gradio_fixes.py``), the pen script (``pen.js``) and the load test."""
