"""The ``siamese`` command: use a model from the shell, and run the project's tools.

    siamese compare a.png b.png                      # P(same) of two images (--domain faces or digits for photos and digits)
    siamese match drawing.png --alphabet Tengwar     # the closest characters of an Omniglot alphabet
    siamese embed a.png b.png                        # one embedding per image, as JSON lines
    siamese train --steps 600 --out-dir runs/quick   # the same flags as scripts/train.py
    siamese evaluate lake-runs                       # the same modes and flags as scripts/evaluate.py
    siamese loss-study --data mnist --cpu-minutes 1  # the same flags as scripts/compare_losses.py
    siamese push runs/x/best you/compact-omniglot    # publish a trained folder (scripts/push_to_hub.py)
    siamese serve                                    # the web app (app.py of a checkout)

``compare``, ``match`` and ``embed`` take ``--model SOURCE`` (a checkpoint folder or Hub repo id;
default: the bundled model). Every failure is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path
from typing import Any

from siamese.data import DataError
from siamese.models import CheckpointError
from siamese.utils import one_line
from siamese.transforms import ImageInputError, open_image

#: The checkout's root, where ``app.py`` lives (the page is not part of the installed package).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class CommandError(ValueError):
    """A command that cannot run as asked; the message is for the user."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siamese", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", metavar="SOURCE", help="checkpoint folder or Hub repo id (default: the bundled model)")

    compare = commands.add_parser("compare", parents=[model], help="P(same) of two images")
    compare.add_argument("images", nargs=2, metavar="IMAGE")
    compare.add_argument("--domain", default=None, help="characters (default), faces or digits: the bundled model of that domain")
    match = commands.add_parser("match", parents=[model], help="the closest Omniglot characters to a drawing")
    match.add_argument("image", metavar="IMAGE")
    match.add_argument("--alphabet", default="All alphabets", help='an Omniglot alphabet, e.g. Tengwar (default: "All alphabets")')
    match.add_argument("--top-k", type=int, default=5, help="how many characters to list (default: 5)")
    embed = commands.add_parser("embed", parents=[model], help="embeddings of images, one JSON line each")
    embed.add_argument("images", nargs="+", metavar="IMAGE")
    for name, help_text in (("train", "train a model (scripts/train.py)"), ("evaluate", "evaluate a model (scripts/evaluate.py)"),
                            ("loss-study", "compare the objectives (scripts/compare_losses.py)"),
                            ("push", "publish a trained checkpoint to the Hub (scripts/push_to_hub.py)"),
                            ("serve", "start the web app (app.py of a checkout)")):  # fmt: skip
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The tools parse their own flags: everything after their name is theirs.
    if argv and argv[0] in ("train", "evaluate", "loss-study", "push", "serve"):
        return _tool(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        for line in _run(args):
            print(line)
    except (CommandError, CheckpointError, DataError, ImageInputError, ValueError) as error:
        print(f"error: {one_line(error, limit=2000)}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> list[str]:
    if args.command == "compare":
        from siamese.matching.service import CHARACTERS

        service = _service(args.model, with_gallery=False)
        images = [_read(path) for path in args.images]
        domains = {"characters": CHARACTERS, "faces": "Faces (AT&T)", "digits": "Digits (MNIST)"}
        if args.domain is not None and args.domain not in domains:
            raise CommandError(f"Unknown domain {args.domain!r}; choose characters, faces or digits.")
        result = service.compare(*images, domain=domains[args.domain or "characters"])
        return [f"{result.probability:.4f}", result.message]
    if args.command == "match":
        service = _service(args.model, with_gallery=True)
        result = service.match(_read(args.image), args.alphabet, args.top_k)
        return [f"{m.probability:.4f}  {m.label}" for m in result.matches] + [result.message]
    from siamese.hub import load_model

    model = load_model(args.model)
    images = [_read(path) for path in args.images]
    features = model.embed(images).cpu()
    return [json.dumps({"image": path, "embedding": [round(v, 6) for v in row.tolist()]}) for path, row in zip(args.images, features)]


def _read(path: str) -> Any:
    if not Path(path).is_file():
        raise CommandError(f"No image file at {path}.")
    try:
        return open_image(path)
    except ImageInputError as error:
        raise CommandError(f"{path}: {error}") from None


def _service(model: str | None, with_gallery: bool) -> Any:
    """The page's matching service, on ``model`` when given (the Omniglot gallery prepared on demand)."""
    import os

    from siamese.data import prepare_dataset
    from siamese.data.prepare import data_dir
    from siamese.matching.service import MatchingService

    if model is not None:
        os.environ["SIAMESE_MODEL"] = model
    if with_gallery:
        prepare_dataset("omniglot")
    return MatchingService.start(cache_dir=data_dir() / "cache", with_gallery=with_gallery, threads=None)


def _tool(name: str, argv: list[str]) -> int:
    if name == "train":
        from siamese.training.cli import main as train_main

        return train_main(argv)
    if name == "evaluate":
        from siamese.evaluate import main as evaluate_main

        return evaluate_main(argv)
    if name == "push":
        return push_main(argv)
    if name == "loss-study":
        from siamese.training.cli import study_main

        return study_main(argv)
    app = PROJECT_ROOT / "app.py"
    if not app.is_file():
        print("error: siamese serve runs app.py of a checkout of the project; clone it and run the command there.", file=sys.stderr)
        return 2
    sys.argv = [str(app), *argv]
    runpy.run_path(str(app), run_name="__main__")
    return 0


def _listing(upload: Any) -> str:
    lines = [f"  {name:<24} {size:>14,} bytes" for name, size in upload.files.items()]
    if upload.skipped:
        lines.append(f"  not uploaded: {', '.join(upload.skipped)}")
    return "\n".join(lines)


def push_main(argv: list[str] | None = None) -> int:
    """``scripts/push_to_hub.py`` and ``siamese push``: publish a trained folder (see :func:`siamese.hub.push_to_hub`)."""
    from siamese.hub import PushError, push_to_hub

    parser = argparse.ArgumentParser(prog="siamese push", description="Publish a trained checkpoint to the Hugging Face Hub.")
    parser.add_argument("checkpoint_dir", type=Path, help="a folder saved by scripts/train.py (e.g. runs/x/best)")
    parser.add_argument("repo_id", help="the Hub repo to create or update, owner/name")
    parser.add_argument("--private", action="store_true", help="create the repo private (an existing one is kept)")
    parser.add_argument("--revision", help="the branch to commit to (created if needed; default main)")
    parser.add_argument("--token", help="a Hugging Face write token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--commit-message", help="default: 'Upload ARCH checkpoint FINGERPRINT'")
    parser.add_argument("--allow-no-card", action="store_true", help="upload even without the model card README.md")
    parser.add_argument("--dry-run", metavar="OUT_DIR", type=Path, help="write what would be uploaded; upload nothing")
    args = parser.parse_args(argv)
    try:
        upload = push_to_hub(
            args.checkpoint_dir,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            token=args.token,
            commit_message=args.commit_message,
            allow_no_card=args.allow_no_card,
            dry_run=args.dry_run,
        )
    except PushError as error:
        print(f"error: {one_line(error, limit=2000)}", file=sys.stderr)
        return 1
    for warning in upload.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    where = f"{upload.repo_id} (revision {args.revision or 'main'}{', private if new' if args.private else ''})"
    if upload.commit_url is None:
        print(f"Dry run: {len(upload.files)} files would be uploaded to {where}; nothing was uploaded.")
        print(_listing(upload))
        print(f"Written to {args.dry_run}")
    else:
        print(f"Uploaded {len(upload.files)} files to {where}:")
        print(_listing(upload))
        print(upload.commit_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
