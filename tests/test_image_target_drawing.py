"""The gallery's drawing of boxes and mask outlines."""

from __future__ import annotations

import numpy as np
from PIL import Image

from augmill.tasks.modalities.image.ops_targets import TargetObject, Targets
from augmill.tasks.modalities.image.target_drawing import class_colour, draw_targets, mask_outline


def test_boxes_and_mask_outlines_are_drawn_in_the_class_colour_and_nothing_else_changes():
    mask = np.zeros((60, 80), dtype=np.uint8)
    mask[30:50, 40:70] = 1
    targets = Targets(80, 60, (TargetObject("a", 1, (10.0, 20.0, 30.0, 40.0)),
                               TargetObject("b", 2, (40.0, 30.0, 70.0, 50.0), mask=mask)))
    out = np.asarray(draw_targets(Image.new("RGB", (80, 60), (0, 0, 0)), targets, {1: "x", 2: "y"}))
    assert (out[20, 10:30] == class_colour(1)).all() and (out[39, 10:30] == class_colour(1)).all()
    assert (out[20:40, 29] == class_colour(1)).all()
    assert (out[31:49, 41:69] == 0).all()  # the mask's interior is not painted
    assert (out[mask_outline(mask)] == class_colour(2)).all()
    assert (out[52:, :] == 0).all()  # below every object and label: untouched


def test_mask_outline_is_the_border_ring():
    mask = np.zeros((5, 5), dtype=np.uint8)
    mask[1:4, 1:4] = 1
    expected = mask.astype(bool).copy()
    expected[2, 2] = False
    np.testing.assert_array_equal(mask_outline(mask), expected)
