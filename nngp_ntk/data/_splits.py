"""Splits and sizes of an experiment: the held-out test set and the training sizes of a learning curve.

For N points and a training pool of P points:

    held_out_count:  N -> min(N // TEST_FRACTION, MAX_TEST), at least 1   (or a checked test_size)
    default_sizes:   P -> s, 2 s, 4 s, ... up to P, s = min(FIRST_SIZE, P // 8), at least 2
"""

from __future__ import annotations

import numpy as np

from nngp_ntk._checks import ArgumentValueError, check_integer

#: The default test set of an experiment (``held_out_count``): a TEST_FRACTION-th of the points, at most MAX_TEST.
TEST_FRACTION = 4
MAX_TEST = 1000
#: The default training sizes (``default_sizes``) double from FIRST_SIZE up to the training pool.
FIRST_SIZE = 100


def held_out_count(n_points: int, test_size: int | None = None) -> int:
    """The number of held-out test points of N = ``n_points``: ``test_size`` checked (it must leave at
    least 3 training points), or by default min(N // TEST_FRACTION, MAX_TEST), at least 1.

    Example:
        >>> held_out_count(400), held_out_count(100_000), held_out_count(400, 50)
        (100, 1000, 50)
    """
    n_points = check_integer("n_points", n_points, minimum=4)
    if test_size is None:
        return max(1, min(n_points // TEST_FRACTION, MAX_TEST))
    test_size = check_integer("test_size", test_size, minimum=1)
    if test_size >= n_points - 2:
        raise ArgumentValueError(f"test_size must leave at least 3 training points of the {n_points}, got {test_size}")
    return test_size


def default_sizes(pool: int) -> np.ndarray:
    """The training sizes a learning curve is measured and predicted at, for a training pool of
    ``pool`` points: s, 2 s, 4 s, ... up to the pool, s = min(FIRST_SIZE, pool // 8) (at least 2).

    Example:
        >>> default_sizes(4000).tolist()
        [100, 200, 400, 800, 1600, 3200]
        >>> default_sizes(300).tolist()
        [37, 74, 148, 296]
    """
    pool = check_integer("pool", pool, minimum=4)
    first = max(2, min(FIRST_SIZE, pool // 8))
    return first * 2 ** np.arange(int(np.log2(pool / first)) + 1)
