"""One sentence for each way a media file can be unreadable: what is wrong, and what to do."""

from __future__ import annotations

from pathlib import Path

from ..errors import MediaError


def _sniff(path: Path) -> str | None:
    """What an unreadable file seems to be, from its first bytes: ``"mp4"``, ``"text"`` or ``None``."""
    try:
        with open(path, "rb") as file:
            head = file.read(2048)
    except OSError:
        return None
    if head[4:8] == b"ftyp":
        return "mp4"
    if head and b"\0" not in head:
        try:
            head.decode("utf-8")
            return "text"
        except UnicodeDecodeError:
            pass
    return None


def unreadable_message(path: Path, label: str, exc: BaseException | None = None) -> str:
    kind = _sniff(path)
    if kind == "text":
        return f"'{label}' is a text file, not a video or image: pass a video (mp4, mkv, webm, ...) or image file."
    if kind == "mp4":
        return (
            f"'{label}' is an MP4/MOV file that is truncated or damaged (its index cannot be read): "
            "download or export it again."
        )
    return (
        f"'{label}' is not a video or image trio can read (it is corrupt, truncated or in an unsupported format): "
        "check that it plays in a video player, or re-encode it as H.264 MP4."
    )


def damaged_message(label: str, exc: BaseException, at: float | None = None) -> str:
    where = f" around {at:.1f} s" if at is not None and at > 0 else ""
    if isinstance(exc, EOFError):  # av.error.EOFError: the data stops before the headers say it does
        return f"'{label}' ends early{where} (it is truncated): download or export it again."
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"'{label}' is damaged{where} ({detail}): download or export it again, or re-encode it as H.264 MP4."


def undecodable_message(label: str, exc: BaseException | None = None) -> str:
    detail = f" ({getattr(exc, 'strerror', None) or exc})" if exc is not None else ""
    return (
        f"'{label}' has a video stream but none of its frames could be decoded{detail}: "
        "the file is damaged, so download or export it again."
    )


def os_error_message(label: str, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f"'{label}' cannot be opened (permission denied): check the file's permissions."
    return f"'{label}' cannot be read ({exc.strerror or exc}): check the file and the disk it is on."


def check_file(path: Path, label: str) -> None:
    """The :class:`MediaError` for a path that is missing, a directory or empty."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise MediaError(f"'{label}' does not exist: check the path.") from None
    except OSError as exc:
        raise MediaError(os_error_message(label, exc)) from None
    if path.is_dir():
        raise MediaError(f"'{label}' is a directory, not a video or image: pass one of the files inside it.")
    if stat.st_size == 0:
        raise MediaError(f"'{label}' is empty (0 bytes): download or copy it again.")
