"""The error a training run reports as one line (exit status 2), raised by train.py and cluster.py alike."""


class TrainError(Exception):
    """A problem with the request itself; reported as one line, exit status 2."""
