"""Report helpers."""

from mlipcamp.tables import error_summary


def test_error_summary_keeps_what_failed_and_the_cause():
    tail = (
        "mace run_train exited with code 1 (log /w/train.log):\n"
        "UserWarning: TorchScript ...\n  return visitor(node)\n\n"
        "RuntimeError: CUDA out of memory\n"
    )
    assert (
        error_summary(tail)
        == "mace run_train exited with code 1 (log /w/train.log): … RuntimeError: CUDA out of memory"
    )
    assert (
        error_summary("asked for 8 training structures, but only 7 are labelled")
        == "asked for 8 training structures, but only 7 are labelled"
    )
    assert error_summary(None) == error_summary("") == "no reason recorded"


def _red_pixels(path) -> int:
    from matplotlib.image import imread

    image = imread(path)[..., :3]
    return int(((image[..., 0] > 0.7) & (image[..., 1] < 0.4) & (image[..., 2] < 0.4)).sum())


def test_a_diffusion_coefficient_without_a_converged_density_is_flagged(tmp_path):
    from mlipcamp.figures import plot_observables

    rows = [
        {
            "liquid": "EC",
            "model": m,
            "density_g_cm3": rho,
            "density_sem_g_cm3": 0.01,
            "density_converged": ok,
            "diffusion_cm2_s": 8e-6,
            "diffusion_sem_cm2_s": 1e-6,
        }
        for m, rho, ok in (("a", 1.3, True), ("b", 0.4, False))
    ]
    assert _red_pixels(plot_observables(rows, tmp_path / "both.png", "EC")) > 20  # the unconverged run, in red
    assert _red_pixels(plot_observables(rows[:1], tmp_path / "one.png", "EC")) == 0
