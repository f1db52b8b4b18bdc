"""The page's companions: workarounds for Gradio (``gradio_fixes.py``) and the pen script (``pen.js``)."""
