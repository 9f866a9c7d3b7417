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
