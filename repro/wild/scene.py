"""One scene of the WILD build: walk its windows in order, write the accepted pairs, keep a resume state.

The state is ``OUT/<split>/<scene>/windows.json``: every window tried so far (its manifest row)
and whether the scene is complete; a re-run keeps the rows whose files exist and recomputes
nothing else (see :func:`process_scene`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..io.files import atomic_path, atomic_write_text
from .flow import estimate_flow
from ..io.images import write_image
from .recipe import BuildConfig, analyse_window, draw_window_sizes, pair_statistics, prepare_frame, scene_rng

__all__ = ["process_scene", "finished_scene_rows", "window_file"]

log = logging.getLogger(__name__)


def _psnr8(blurry: np.ndarray, sharp: np.ndarray) -> float:
    """PSNR (dB) of the blurry image against the sharp one, both as the 8-bit PNGs written."""
    from ..core.metrics import psnr

    def q(x: np.ndarray) -> np.ndarray:
        return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)

    return float(psnr(q(sharp), q(blurry)))


def window_file(split: str, scene: str, kind: str, center: int, suffix: str = ".png") -> str:
    """Path, relative to the output folder, of a window's ``kind`` file (blur, sharp, blursize)."""
    return f"{split}/{scene}/{kind}/{center:06d}{suffix}"


def _row_files_exist(out: Path, row: dict) -> bool:
    return (not row["accepted"]) or ((out / row["blur"]).is_file() and (out / row["sharp"]).is_file())


def _load_state(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("%s: unreadable resume state, the scene is redone", path)
        return None


def finished_scene_rows(out: Path, split: str, scene: str, accepted_before: int | None,
                pairs: int | None) -> list[dict] | None:
    """Rows of a scene finished by an earlier run, else None.

    Finished: complete, and every accepted row has its files, except rows beyond the ``pairs``
    cut (whose files the cut removed) when the count of accepted pairs before this scene,
    ``accepted_before``, is known.
    """
    state = _load_state(out / split / scene / "windows.json")
    if not (state and state.get("complete")):
        return None
    accepted = accepted_before
    for r in state["rows"]:
        if pairs is not None and accepted is not None and accepted >= pairs:
            break
        if not _row_files_exist(out, r):
            return None
        if accepted is not None:
            accepted += r["accepted"]
    return state["rows"]


class _FrameCache:
    """Frames of a scene read in order, prepared and their flows estimated at most once each."""

    def __init__(self, frames: Iterable[np.ndarray], config: BuildConfig,
                 true_flows: Callable[[int], np.ndarray] | None) -> None:
        self.it, self.config, self.true_flows = iter(frames), config, true_flows
        self.read = 0
        self.raw: dict[int, np.ndarray] = {}
        self.prepared: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.flows: dict[int, np.ndarray] = {}
        self.stats: dict[int, tuple[float, float, float]] = {}

    def fill(self, stop: int) -> int:
        """Read frames up to index ``stop`` (exclusive) if the scene has them; returns frames read."""
        while self.read < stop:
            f = next(self.it, None)
            if f is None:
                break
            self.raw[self.read] = f
            self.read += 1
        return self.read

    def drop_before(self, start: int) -> None:
        for d in (self.raw, self.prepared, self.flows, self.stats):
            for i in [i for i in d if i < start]:
                del d[i]

    def prepare(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self.prepared:
            c = self.config
            self.prepared[i] = prepare_frame(self.raw[i], downsample=c.downsample, linear=c.linear, gamma=c.gamma)
        return self.prepared[i]

    def flow(self, t: int) -> np.ndarray:
        if t not in self.flows:
            if self.true_flows is not None:
                self.flows[t] = self.true_flows(t)
            else:
                self.flows[t] = estimate_flow(self.prepare(t)[0], self.prepare(t + 1)[0],
                                              backend=self.config.flow_backend)
        return self.flows[t]

    def pair_stats(self, t: int) -> tuple[float, float, float]:
        if t not in self.stats:
            self.stats[t] = pair_statistics(self.prepare(t)[0], self.prepare(t + 1)[0], self.flow(t),
                                            percentile=self.config.flow_percentile)
        return self.stats[t]


def process_scene(frames: Iterable[np.ndarray], scene: str, out: str | os.PathLike, config: BuildConfig, *,
                  true_flows: Callable[[int], np.ndarray] | None = None,
                  callback: Callable[[dict], None] | None = None) -> list[dict]:
    """Walk the windows of one scene's ``frames`` (uint8 ``(H, W, 3)``), write pairs, return rows.

    Window ``i + 1`` starts ``gap`` frames after window ``i`` ends (a negative ``gap`` overlaps
    them; each frame's preparation and flow is computed once). Rows already recorded in
    ``OUT/<split>/<scene>/windows.json`` whose files exist are kept without recomputation.
    ``true_flows(t)`` (optional) returns the ``(H, W, 2)`` flow from frame ``t`` to ``t + 1`` on
    the *downsampled* grid instead of estimating it. ``callback(row)`` is called after each
    window is recorded (a progress or testing hook).
    """
    out = Path(out)
    scene_dir = out / config.split / scene
    state_path = scene_dir / "windows.json"
    state = _load_state(state_path)
    done = {(r["start"], r["n"]): r for r in (state or {}).get("rows", []) if _row_files_exist(out, r)}
    rows: list[dict] = []
    sizes = draw_window_sizes(scene_rng(config.seed, scene), config.n_range, config.n_weights)
    cache = _FrameCache(frames, config, true_flows)

    def save_state(complete: bool) -> None:
        scene_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state_path, json.dumps({"scene": scene, "complete": complete, "rows": rows}) + "\n")

    start = 0
    while True:
        n = next(sizes)
        if cache.fill(start + n) < start + n:
            if start == 0:  # the clip is shorter than its (first) window: skipped, with a reason
                rows.append(dict(scene=scene, start=0, n=n, center=n // 2, flow_stat=float("nan"),
                                 flow_max=float("nan"), match_error=float("nan"), blur_size=float("nan"),
                                 accepted=False, reason=f"clip too short: {cache.read} frames, window needs N={n}",
                                 blur="", sharp=""))
                if callback:
                    callback(rows[-1])
            break
        if (start, n) in done:
            rows.append(done[(start, n)])
        else:
            prepared = [cache.prepare(i) for i in range(start, start + n)]
            flows = np.stack([cache.flow(t) for t in range(start, start + n - 1)]) if n > 1 else None
            res = analyse_window([p[0] for p in prepared], [p[1] for p in prepared], config=config, flows=flows,
                                 pair_stats=[cache.pair_stats(t) for t in range(start, start + n - 1)])
            center = start + n // 2
            # The next window: after this one (+ gap); after a rejected one with ``resync``, right
            # after its last offending pair (no accepted window can contain that pair).
            nxt = start + n + config.gap
            if not res.accepted and config.resync:
                nxt = start + res.last_bad_pair + 1
            row = dict(scene=scene, start=start, n=n, center=center, flow_stat=res.flow_stat,
                       flow_max=res.flow_max, match_error=res.match_error,
                       blur_size=float(res.blur_size.mean()), input_psnr=_psnr8(res.blurry, res.sharp),
                       accepted=res.accepted, reason=res.reason, blur="", sharp="", next=nxt)
            if res.accepted:
                row["blur"] = window_file(config.split, scene, "blur", center)
                row["sharp"] = window_file(config.split, scene, "sharp", center)
                write_image(out / row["blur"], res.blurry)
                write_image(out / row["sharp"], res.sharp)
                if config.save_blursize:
                    with atomic_path(out / window_file(config.split, scene, "blursize", center, ".npy")) as tmp:
                        np.save(tmp, res.blur_size.astype(np.float32))
            rows.append(row)
        save_state(False)
        if callback:
            callback(rows[-1])
        start = rows[-1]["next"]
        cache.drop_before(start)
    save_state(True)
    return rows
