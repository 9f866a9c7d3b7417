"""Production molecular dynamics: restartable runs with a stability watch (``run``)."""
