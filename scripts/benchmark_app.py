"""The web app's speed as a visitor gets it: start-up time and ``match`` latency over the HTTP API.

    python scripts/benchmark_app.py [--requests 50] [--alphabet Tengwar] [--json]

Starts the app in this process (timing the import, which loads the model and the cached gallery),
then sends ``--requests`` drawings of Omniglot characters to the ``match`` endpoint with
``gradio_client``, one at a time, and prints p50/p95 latency per request: the drawing's upload,
preprocessing, embedding and ranking, and the reply; once as a browser gets it (the reply names
the output images, fetched later and in parallel), once with the client also downloading the six
output images one after the other. Run it twice: the first run fills the gallery cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--alphabet", default="Tengwar", help='an Omniglot alphabet or "All alphabets"')
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import app  # noqa: PLC0415 - timing the start-up is the point

    demo = app.create_demo()  # loads the models and the cached gallery
    startup = time.perf_counter() - started
    from gradio_client import Client, handle_file  # noqa: PLC0415

    from siamese.utils import free_port, percentile  # noqa: PLC0415

    from siamese.data import load_omniglot  # noqa: PLC0415

    _, url, _ = demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.launch_kwargs())
    drawings = load_omniglot("test", drawers=(2,)).images
    result: dict = {"startup_s": round(startup, 2), "requests": args.requests, "alphabet": args.alphabet}
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.requests):
            paths.append(Path(folder) / f"{i}.png")
            drawings[(i * 37) % len(drawings)].save(paths[-1])
        for download, label in ((False, "match"), (True, "match_with_downloads")):
            client = Client(url, verbose=False, download_files=download)
            client.predict({"background": None, "layers": [], "composite": handle_file(str(paths[0]))}, args.alphabet, 5, api_name="/match")
            latencies = []
            for path in paths:
                begin = time.perf_counter()
                client.predict({"background": None, "layers": [], "composite": handle_file(str(path))}, args.alphabet, 5, api_name="/match")
                latencies.append(time.perf_counter() - begin)
            latencies.sort()
            result[f"{label}_p50_ms"] = round(1000 * percentile(latencies, 0.5), 1)
            result[f"{label}_p95_ms"] = round(1000 * percentile(latencies, 0.95), 1)
    demo.close()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
