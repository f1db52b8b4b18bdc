"""Publish a trained checkpoint to the Hugging Face Hub, for ``SIAMESE_HUB_REPO`` / ``SIAMESE_MODEL``.

    python scripts/push_to_hub.py CHECKPOINT_DIR REPO_ID [--private] [--revision BRANCH] [--token TOKEN]
                                  [--commit-message TEXT] [--allow-no-card] [--dry-run OUT_DIR]

The folder is checked first: ``config.json`` and ``model.safetensors`` must load strictly through
``siamese.load_model`` (a broken checkpoint is never uploaded), and the model card ``README.md`` that
``scripts/train.py`` writes must be there (``--allow-no-card`` to upload without one). Only these files
go up: ``config.json``, ``model.safetensors``, ``README.md``, ``metrics.jsonl``, ``evaluation.json`` and any ``*.png`` plot;
a card without YAML front matter gets it. ``--dry-run OUT_DIR`` writes exactly those files, with the
same bytes, to OUT_DIR and uploads nothing. The token: ``--token``, else ``HF_TOKEN`` or ``hf auth login``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import siamese  # noqa: E402
from siamese import CheckpointError  # noqa: E402
from siamese.hub import checkpoint_fingerprint  # noqa: E402
from siamese.models import read_config  # noqa: E402

REQUIRED = ("config.json", "model.safetensors")
CARD = "README.md"
OPTIONAL = (CARD, "metrics.jsonl", "evaluation.json")  # and every *.png next to them (curves.png, ...); evaluation.json: the card's figures
FRONT_MATTER = (
    "---\nlibrary_name: pytorch\ntags: [siamese, one-shot, omniglot]\npipeline_tag: image-classification\n---\n"
)


class PushError(Exception):
    """Why nothing was uploaded, in one line for the admin."""


@dataclass
class Upload:
    """What went, or would go, to the Hub."""

    repo_id: str
    files: dict[str, int]  # name -> size in bytes, as uploaded
    skipped: list[str] = field(default_factory=list)  # files in the folder that are not uploaded
    warnings: list[str] = field(default_factory=list)
    commit_url: str | None = None  # None for a dry run


def push_to_hub(
    checkpoint_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    allow_no_card: bool = False,
    dry_run: str | Path | None = None,
) -> Upload:
    """Check ``checkpoint_dir``, then upload its files to ``repo_id`` (for a dry run: write them to ``dry_run``).

    Raises :class:`PushError` before anything is uploaded or written if the checkpoint is unusable.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    folder = Path(checkpoint_dir)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PushError(f"{repo_id!r} is not a Hub repo id: {error}") from error
    upload = Upload(repo_id, {})
    names = _files_to_upload(folder, allow_no_card, upload)
    if dry_run is not None:
        out = Path(dry_run)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise PushError(f"--dry-run needs an empty or new folder; {out} is not one.")
        upload.files = _stage(folder, names, out)
        return upload
    token = token or _saved_token()
    with tempfile.TemporaryDirectory(prefix="push-to-hub-") as staging:
        upload.files = _stage(folder, names, Path(staging))
        message = commit_message or f"Upload {_architecture(folder)} checkpoint {checkpoint_fingerprint(folder)}"
        upload.commit_url = _upload(Path(staging), repo_id, private, revision, token, message)
    return upload


def _files_to_upload(folder: Path, allow_no_card: bool, upload: Upload) -> list[str]:
    """The names to upload from ``folder``, once it has proved a loadable checkpoint."""
    if not folder.is_dir():
        raise PushError(f"No checkpoint folder at {folder}.")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise PushError(f"{folder} is not a checkpoint: it has no {' and no '.join(missing)}.")
    try:
        siamese.load_model(folder)
    except CheckpointError as error:
        raise PushError(f"Refusing to upload a broken checkpoint: {error}") from error
    if not (folder / CARD).is_file():
        warning = f"{folder} has no model card ({CARD}); scripts/train.py writes it next to the weights."
        if not allow_no_card:
            raise PushError(f"{warning} Upload a folder that has it, or pass --allow-no-card.")
        upload.warnings.append(warning)
    allowed = {*REQUIRED, *OPTIONAL}
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and (p.name in allowed or p.suffix == ".png"))
    upload.skipped = sorted(p.name for p in folder.iterdir() if p.name not in names)
    return names


def _stage(folder: Path, names: list[str], out: Path) -> dict[str, int]:
    """Write exactly what is uploaded into ``out``: the files as they are, the card with front matter."""
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name == CARD:
            text = (folder / name).read_text(encoding="utf-8")
            if text.lstrip("\ufeff").splitlines()[:1] != ["---"]:  # no YAML front matter
                (out / name).write_text(FRONT_MATTER + text, encoding="utf-8")
                continue
        shutil.copyfile(folder / name, out / name)
    return {name: (out / name).stat().st_size for name in names}


def _upload(staging: Path, repo_id: str, private: bool, revision: str | None, token: str, message: str) -> str:
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision not in (None, constants.DEFAULT_REVISION):
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=staging, revision=revision, commit_message=message)
    except HfHubHTTPError as error:
        raise PushError(f"The Hub at {api.endpoint} refused the upload to {repo_id}: {_one_line(error)}") from error
    except Exception as error:  # network failures and whatever else the client raises: one line, no traceback
        reason = f"{type(error).__name__}: {_one_line(error)}"
        raise PushError(f"Upload to {repo_id} at {api.endpoint} failed: {reason}") from error
    return info.commit_url


def _saved_token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PushError("No Hugging Face token: pass --token, set HF_TOKEN, or run `hf auth login`.")
    return token


def _architecture(folder: Path) -> str:
    return str(read_config(folder).get("architecture", "siamese"))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:400]


def _listing(upload: Upload) -> str:
    lines = [f"  {name:<24} {size:>14,} bytes" for name, size in upload.files.items()]
    if upload.skipped:
        lines.append(f"  not uploaded: {', '.join(upload.skipped)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
        print(f"error: {error}", file=sys.stderr)
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
