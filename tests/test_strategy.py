import numpy as np
import pytest

from inference.strategy import confident_strategy, mean_strategy


def test_many_confident_fakes_average_only_those():
    # n = 20: 12 predictions above 0.8 is more than 20 // 2.5 = 8 and more than 11
    pred = [0.9] * 6 + [0.95] * 6 + [0.1] * 8
    assert confident_strategy(pred) == pytest.approx((0.9 * 6 + 0.95 * 6) / 12)


def test_confident_fakes_need_more_than_eleven():
    # 11 above 0.8 out of 12 beats n // 2.5 but not the absolute count of 11: falls to the mean
    pred = [0.9] * 11 + [0.3]
    assert confident_strategy(pred) == pytest.approx((0.9 * 11 + 0.3) / 12)


def test_confident_fakes_need_more_than_n_over_2_5():
    # n = 40: 14 above 0.8 is more than 11 but not more than 40 // 2.5 = 16; 26 at 0.5 keep it off the real
    # branch
    pred = [0.9] * 14 + [0.5] * 26
    assert confident_strategy(pred) == pytest.approx((0.9 * 14 + 0.5 * 26) / 40)


def test_mostly_confident_reals_average_only_those():
    # 19 of 20 below 0.2 is more than 0.9 * 20 = 18
    pred = [0.1] * 10 + [0.05] * 9 + [0.7]
    assert confident_strategy(pred) == pytest.approx((0.1 * 10 + 0.05 * 9) / 19)


def test_exactly_ninety_percent_reals_is_not_enough():
    pred = [0.1] * 18 + [0.7] * 2
    assert confident_strategy(pred) == pytest.approx((0.1 * 18 + 0.7 * 2) / 20)


def test_threshold_is_strict_and_configurable():
    pred = [0.8] * 20
    assert confident_strategy(pred) == pytest.approx(0.8)  # none is *above* 0.8: plain mean
    pred = [0.75] * 15 + [0.3] * 5
    assert confident_strategy(pred, t=0.7) == pytest.approx(0.75)


def test_mean_strategy_and_empty_input():
    assert mean_strategy(np.array([0.2, 0.4])) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        confident_strategy([])
