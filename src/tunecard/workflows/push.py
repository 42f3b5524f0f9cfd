"""`tunecard push`: share a run's model folder on the Hugging Face Hub. Read top to bottom: open the run, check
the folder (the card's links all resolve inside it, no pickle), list what would be uploaded, and upload it with
`huggingface_hub` (create_repo + upload_folder). Torch-free."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from tunecard.errors import TunecardError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Files the Hub's scanner flags as pickles: a tunecard model folder holds safetensors only."""
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
"""A markdown link or image: `[text](target)`, `![alt](target "title")`."""


def push(model: str, /, repo: str, private: bool = False, dry_run: bool = False) -> list[Path]:
    """Upload a run's model folder (or a model folder) to the Hub as model repo `repo`, its card and images
    included. Returns the files (relative to the folder).

    Args:
        model: A run directory or model folder.
        repo: The Hub model repo: user/name or org/name.
        private: Create the repo private.
        dry_run: Check the folder and list what would be uploaded; upload nothing.
    """
    from tunecard.runs.saved import open_saved

    folder = open_saved(model).folder or Path(model)
    files = check_folder(folder)
    size = sum((folder / f).stat().st_size for f in files)
    listing = "\n".join(f"  {f}  ({(folder / f).stat().st_size:,} bytes)" for f in files)
    print(f"{folder}: {len(files)} files, {size / 1e6:.1f} MB; the card's links all resolve inside it\n{listing}")
    if dry_run:
        print(f"dry run: nothing uploaded (would push to https://huggingface.co/{repo}"
              f"{', private' if private else ''})")
        return files
    print(f"pushed: {upload(folder, repo, private)}")
    return files


def folder_files(folder: Path) -> list[Path]:
    """Every file the upload sends, relative to `folder`, sorted."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def broken_links(card: str, folder: Path) -> list[str]:
    """The card's relative link targets that are not a file inside `folder` (web links and anchors are
    not checked: the Hub renders them as they are)."""
    broken = []
    for target in LINK.findall(card):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        path = (folder / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(folder.resolve()) or not path.is_file():
            broken.append(target)
    return broken


def check_folder(folder: Path) -> list[Path]:
    """The files to upload, after checking the folder is a self-contained, pickle-free model folder."""
    if not (folder / "config.json").is_file():
        raise TunecardError(f"model {folder}", "a run directory or a model folder (with config.json)",
                            "no config.json there", "pass the run directory `tunecard train` wrote")
    files = folder_files(folder)
    pickles = [str(f) for f in files if f.suffix.lower() in PICKLE_SUFFIXES]
    if pickles:
        raise TunecardError(f"model {folder}", "weights and settings without pickle (safetensors, json)",
                            f"pickle files {', '.join(pickles)}", "remove them: the Hub flags pickles as unsafe")
    card = folder / "README.md"
    if not card.is_file():
        raise TunecardError(f"model {folder}", "a model card (README.md)", "none", "train with tunecard, "
                            "which writes it, or add a README.md")
    broken = broken_links(card.read_text(encoding="utf-8"), folder)
    if broken:
        raise TunecardError(f"card {card}", "links to files inside the folder", f"links to missing files: "
                            f"{', '.join(broken)}", "copy those files into the folder or remove the links")
    return files


def upload(folder: Path, repo: str, private: bool) -> str:
    """Create (or reuse) the model repo and upload the folder in one commit; returns the commit URL."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    from tunecard.console import quiet_hub_warnings

    token = get_token()
    if token is None:
        raise TunecardError("tunecard push", "a Hugging Face token", "none (not logged in, HF_TOKEN unset)",
                            "run `hf auth login` or set HF_TOKEN; --dry-run checks the folder without one")
    api = HfApi(token=token)
    try:
        with quiet_hub_warnings():
            api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
            commit = api.upload_folder(repo_id=repo, folder_path=folder, repo_type="model",
                                       commit_message="Upload a tunecard model")
    except OfflineModeIsEnabled:
        raise TunecardError("tunecard push", "the Hugging Face Hub reachable", "offline mode (HF_HUB_OFFLINE=1)",
                            "unset HF_HUB_OFFLINE and push again") from None
    except HfHubHTTPError as exc:
        raise TunecardError("tunecard push", f"write access to {repo}", str(exc).splitlines()[0],
                            "check the repo name and that your token may write to it") from None
    except _transport_errors() as exc:
        raise TunecardError("tunecard push", "the Hugging Face Hub reachable", f"no connection ({exc})",
                            "check the network, or push from a machine that reaches huggingface.co") from None
    return commit.commit_url


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures as huggingface_hub's HTTP client raises them (its httpx, or the fork it ships)."""
    errors: list[type[BaseException]] = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)
