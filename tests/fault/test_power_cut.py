#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_power_cut: 10 simulated power cuts under load (tests/fault/powercut.py has
the scenario and the checks; powercut.sh runs 100). NTM_POWERCUT_CUTS and
NTM_POWERCUT_SEED change the number and the random choices."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import powercut  # noqa: E402

if __name__ == "__main__":
    powercut.harness.run(powercut.main)
