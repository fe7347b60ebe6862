"""repro.tour and notebooks/00_tour.ipynb (issue 45): the teaching tour, its rule and its sliders."""

from __future__ import annotations

import numpy as np
import pytest

from repro.tour import TourSettings, check_settings, run_tour, tour_figure, try_this_table

SMALL = (48, 64)
SAME = {"same": lambda image: image}  # a "network" that changes nothing: fast, and its PSNR is the input's


def test_a_window_is_accepted_or_rejected_by_its_flow_and_the_threshold():
    moving = run_tour(TourSettings(speed=1.0, frames=5, size=SMALL), SAME)
    assert moving.frames.shape == (5, *SMALL, 3) and moving.flow_p99.shape == (4,)
    assert 0.0 < moving.flow_p99.max() and moving.accepted == (moving.flow_p99.max() <= 1.0)
    strict = run_tour(TourSettings(speed=1.0, frames=5, size=SMALL, flow_threshold=0.01), SAME)
    assert not strict.accepted and np.array_equal(strict.average, moving.average)  # the rule judges, it does not change
    assert moving.psnr["same"] == pytest.approx(moving.psnr["input"])
    assert moving.average == pytest.approx(moving.frames.mean(axis=0), abs=1e-6)
    assert np.array_equal(moving.sharp, moving.frames[2])  # the central frame


def test_a_tripod_gives_a_sharp_average_and_more_frames_more_blur():
    still = run_tour(TourSettings(speed=0.0, frames=5, size=SMALL), SAME)
    assert still.flow_p99.max() < 1e-3 and still.psnr["input"] > 60  # nothing moved: the average is sharp
    assert still.numbers()["gain_db"]["same"] is None or still.numbers()["gain_db"]["same"] == pytest.approx(0)
    short = run_tour(TourSettings(frames=3, size=SMALL), SAME)
    long = run_tour(TourSettings(frames=21, size=SMALL), SAME)
    assert long.psnr["input"] < short.psnr["input"]


def test_bad_settings_are_refused_in_one_line():
    for bad, match in ((TourSettings(frames=4), "frames must be odd"), (TourSettings(speed=-1), "speed must be"),
                       (TourSettings(flow_threshold=0), "flow_threshold must be positive"),
                       (TourSettings(sway=-1), "sway must be")):
        with pytest.raises(ValueError, match=match):
            check_settings(bad)
    with pytest.raises(ValueError, match=r"photo 'no_such_photo': neither a bundled photo \(.*chelsea.*\) nor an image file"):
        run_tour(TourSettings(photo="no_such_photo", size=SMALL), SAME)


def test_the_figure_and_the_try_this_table():
    import matplotlib.pyplot as plt

    result = run_tour(TourSettings(frames=5, size=SMALL), SAME)
    fig = tour_figure(result)
    titles = [ax.get_title() for ax in fig.axes]
    plt.close(fig)
    assert any(t.startswith("average of 5:") for t in titles) and any("accepted" in t or "REJECTED" in t for t in titles)
    rows = try_this_table(SAME, TourSettings(frames=5, size=SMALL))
    assert [r["rule"] for r in rows] == ["accepted", "accepted", "rejected"]
    assert rows[0]["input dB"] is None  # a tripod: the average is the sharp frame, PSNR infinite


@pytest.mark.slow
def test_moving_a_slider_in_a_real_kernel_redraws_the_output():
    """The widgets in an ipykernel, as JupyterLab runs them: set a slider's value, read the Output."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        def run(code: str) -> list[str]:  # the lines the code printed
            printed: list[str] = []

            def hook(msg: dict) -> None:
                if msg["msg_type"] == "stream":
                    printed.append(msg["content"]["text"])

            reply = kc.execute_interactive(code, timeout=300, output_hook=hook)
            assert reply["content"]["status"] == "ok", reply["content"]
            return "".join(printed).splitlines()

        before = run("from repro.tour import TourSettings, tour_widgets\n"
                     "box, controls, output = tour_widgets({'same': lambda x: x}, TourSettings(frames=5, size=(48, 64)))\n"
                     "print(output.outputs[0]['data']['text/plain'])")
        assert before[0].startswith("N = 5, speed 1, sway 0:")
        after, png = run("controls['frames'].value = 9\ncontrols['flow_threshold'].value = 0.05\n"
                         "print(output.outputs[0]['data']['text/plain']); print(len(output.outputs[0]['data']['image/png']))")
        assert after.startswith("N = 9, speed 1, sway 0:") and "rejected by the 0.05 px rule" in after
        assert int(png) > 1000  # the figure, redrawn
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
