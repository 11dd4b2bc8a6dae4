"""``python -m anomalib_kd_plugins`` is ``anomalib-kd``."""

import sys

from anomalib_kd_plugins.cli import main

sys.exit(main())
