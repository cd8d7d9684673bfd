"""Settings of the benchmark server: production settings, plus the baseline views mounted under /bench/."""

from billingengine.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
