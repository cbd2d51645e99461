"""Hypothesis profiles. In CI (CI=true) the property tests draw the same examples every run
(derandomize), so a CI verdict is a function of the commit; a developer's run draws new examples
each time, which is how the flaky inputs below were found. Set HYPOTHESIS_PROFILE to choose."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "explore"))
