"""A model file format that loads without unpickling arbitrary objects.

A file is written with ``torch.save`` and holds only tensors, numbers,
strings, lists and dicts, so ``torch.load(weights_only=True)`` reads it
without executing code from the file. Estimator parameters, fitted statistics
and the training history travel as one JSON string; the network weights (and,
in training checkpoints, the optimiser and scheduler states) as tensors.
"""

import glob
import hashlib
import json
import os
import socket
import warnings
from pathlib import Path

import numpy as np
import torch

FORMAT = "sklearn_denoiseg"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 2 keeps the predictor (network, normalisation, prediction
settings) apart from the estimator (parameters, threshold, history)."""


def _to_json(value):
    """JSON fallback for numpy scalars and arrays found in params and history."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in a model file")


def dumps_metadata(metadata):
    """Serialise a dict of plain values (numpy scalars allowed) to JSON."""
    return json.dumps(metadata, default=_to_json)


def cpu_state(state_dict):
    """A copy of a module or optimiser state with every tensor on the CPU."""
    if isinstance(state_dict, torch.Tensor):
        return state_dict.detach().cpu().clone()
    if isinstance(state_dict, dict):
        return {key: cpu_state(value) for key, value in state_dict.items()}
    if isinstance(state_dict, (list, tuple)):
        return type(state_dict)(cpu_state(value) for value in state_dict)
    return state_dict


def _checksum(metadata_json, tensors):
    """SHA-256 over the metadata and every tensor's bytes, in a fixed order,
    so that a damaged byte anywhere in the file is noticed on loading."""
    digest = hashlib.sha256(metadata_json.encode())

    def update(value):
        if isinstance(value, torch.Tensor):
            raw = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
            digest.update(raw.numpy().tobytes())
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                digest.update(str(key).encode())
                update(value[key])
        elif isinstance(value, (list, tuple)):
            for item in value:
                update(item)
        else:
            digest.update(repr(value).encode())

    update(tensors)
    return digest.hexdigest()


def _partial_path(path):
    """Where :func:`write` builds ``path``: a hidden file beside it (the same
    file system, so that the final rename is atomic), named after this host
    and process, so that concurrent writers never share one and a leftover
    can be told from one still being written (:func:`remove_stale_partials`)."""
    host = socket.gethostname()
    return path.with_name(f".{path.name}.{host}.{os.getpid()}.partial")


def _fsync_directory(directory):
    """Make a rename inside ``directory`` durable. POSIX only: elsewhere a
    directory cannot be opened, and the rename is as durable as it gets."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems (network mounts) refuse fsync on directories
    finally:
        os.close(descriptor)


def write(path, metadata, tensors):
    """Write a model file atomically: a reader never sees half a file.

    The file is written under another name in the same directory, flushed
    to disk and renamed over ``path``. A process killed at any point (even
    by SIGKILL) leaves either the previous file or the new one, complete;
    the fsyncs also keep a power cut right after the rename from leaving an
    empty file behind, as delayed allocation otherwise may.

    Parameters
    ----------
    path : str or Path
    metadata : dict
        Plain values, stored as JSON.
    tensors : dict
        Tensors and containers of tensors and numbers (state dicts).
    """
    path = Path(path)
    metadata_json = dumps_metadata(metadata)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": metadata_json,
        "checksum": _checksum(metadata_json, tensors),
        "tensors": tensors,
    }
    partial = _partial_path(path)
    try:
        with open(partial, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        # a full disk or a Ctrl-C mid-write: leave no half file behind
        partial.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def remove_stale_partials(path):
    """Delete what :func:`write` left beside ``path`` when its process was
    killed mid-write: partial files of this host whose process is gone.
    Those of live processes (a concurrent write) and of other hosts sharing
    the directory are kept, since no process here can tell whether they
    are still being written.

    Parameters
    ----------
    path : Path
        The model file the partial files were meant to become.
    """
    if os.name != "posix":
        return  # os.kill(pid, 0) probes a process on POSIX only; Windows kills it
    host = socket.gethostname()
    prefix, suffix = f".{path.name}.{host}.", ".partial"
    for partial in path.parent.glob(f".{glob.escape(path.name)}.*{suffix}"):
        pid = partial.name[len(prefix):-len(suffix)]
        if not (partial.name.startswith(prefix) and pid.isdigit()):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            partial.unlink(missing_ok=True)
        except OSError:
            pass  # alive, but owned by another user


def read(path):
    """Read a model file safely.

    Returns
    -------
    metadata : dict
    tensors : dict
        The tensors and state dicts stored with the metadata.
    version : int
        Format version of the file, one of ``READABLE_VERSIONS``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a model file of this format version, is
        truncated or corrupted, or holds anything but plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with warnings.catch_warnings():
            # torch warns about any pickle protocol but the one torch.save uses
            # (a pickle.dump of an estimator, say) just before it refuses the
            # file; the ValueError below says what is wrong, the warning only
            # adds noise before it. torch gives it no class of its own.
            warnings.filterwarnings("ignore", message="Detected pickle protocol",
                                    category=UserWarning,
                                    module=r"torch\._weights_only_unpickler")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for bad files
        raise ValueError(
            f"{path} is not a readable sklearn_denoiseg model file: it is corrupted, "
            f"truncated, or holds objects other than plain data ({type(error).__name__})"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an sklearn_denoiseg model file")
    version = payload.get("format_version")
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ValueError(
            f"{path} has model format version {version!r}, but this version of "
            f"sklearn_denoiseg reads versions {', '.join(map(str, READABLE_VERSIONS))}"
            + ("; upgrade sklearn_denoiseg to load it" if newer else "")
        )
    try:
        metadata_json, tensors = payload["metadata"], payload["tensors"]
        intact = payload["checksum"] == _checksum(metadata_json, tensors)
        metadata = json.loads(metadata_json)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is corrupted: its metadata is unreadable") from error
    if not intact:
        raise ValueError(f"{path} is corrupted: its content does not match its checksum")
    return metadata, tensors, version


def model_metadata(metadata, version):
    """The metadata of a saved model in the layout of the current version:
    ``{"predictor": {...}, "estimator": {...}}`` (a file saved by
    ``DenoiSegPredictor.save`` has no ``"estimator"``)."""
    if version >= 2:
        return metadata
    params = metadata["params"]
    return {
        "predictor": {
            "architecture": {key: params[key] for key in ("depth", "n_filters", "batch_norm")},
            "mean": metadata["mean_"], "std": metadata["std_"], "axes": "YX",
            "tile_size": params["tile_size"], "precision": params["precision"],
            "device": params["device"],
        },
        "estimator": {key: metadata[key] for key in
                      ("params", "steps_per_epoch_", "threshold_", "threshold_scores_",
                       "history")},
    }
