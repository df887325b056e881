"""One quick question to the Hugging Face hub before a model or dataset id is loaded from it.

Without it, an unreachable hub costs about 25 seconds of retries inside ``from_pretrained`` /
``load_dataset`` before any error appears. One metadata request with a short timeout (through the
same client, so proxies and tokens apply) tells at once whether the hub answers and the id exists.
"""

from __future__ import annotations

import os

PROBE_TIMEOUT = 5.0


def offline() -> bool:
    """Whether the user switched the hub off (``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def probe(repo_id: str, repo_type: str = "model") -> str:
    """``"ok"``, ``"unreachable"`` (offline, no network, timeout), ``"missing"`` (no such id, or
    private without a token) or ``"gated"`` (needs accepting its terms on the hub)."""
    if offline():
        return "unreachable"
    from huggingface_hub import dataset_info, model_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    info = model_info if repo_type == "model" else dataset_info
    try:
        info(repo_id, timeout=PROBE_TIMEOUT)
    except GatedRepoError:
        return "gated"
    except RepositoryNotFoundError:
        return "missing"
    except Exception:  # connection refused, DNS, timeout, proxy errors
        return "unreachable"
    return "ok"


def explain(repo_id: str, status: str, kind: str, way_out: str) -> str:
    """One sentence for a probe that did not say ``ok``."""
    if status == "missing":
        return (
            f"{kind} '{repo_id}' does not exist on the Hugging Face hub (or is private: log in with "
            f"`hf auth login`); {way_out}."
        )
    if status == "gated":
        return (
            f"{kind} '{repo_id}' is gated: accept its terms on huggingface.co and log in with "
            f"`hf auth login`; {way_out}."
        )
    return (
        f"{kind} '{repo_id}' is not a local path and the Hugging Face hub cannot be reached "
        f"(offline, or no network); {way_out}."
    )
