"""What the package's own commands (demo, bench) print: progress bars, our lines and the tables, no upstream noise."""

from __future__ import annotations

import logging
import warnings

# Upstream notices that no user of ours can act on, hidden by message (everything else stays visible):
# * anomalib 2.7 imports timm's deprecated `timm.models.layers` and its own deprecated dinov2 package on every
#   `import anomalib.models`;
# * Lightning 2.6's pytree helper builds torch's deprecated `LeafSpec` on every step (torch 2.10+ warns).
UPSTREAM_NOTICES = (
    r"Importing from timm\.models\.layers is deprecated",
    r"The anomalib\.models\.components\.dinov2 package is deprecated",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
# Lightning's informational lines (accelerator probe, seed, logging tips, callback overrides) go to these loggers;
# the demo and bench print their own summary instead. Warnings and errors still show.
# The standalone `pytorch_lightning` and `lightning_fabric` packages (anomalib's dependencies import them too) have
# loggers of their own. Each package sets its logger to INFO when imported, so they are imported first.
CHATTY_LOGGERS = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")


def quiet_console() -> None:
    """Hide the upstream notices and Lightning's info lines in this process: the one place the package does so."""
    for message in UPSTREAM_NOTICES:
        warnings.filterwarnings("ignore", message=message)
    import importlib
    import importlib.util

    for name in CHATTY_LOGGERS:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            importlib.import_module(name)  # its import sets its logger to INFO: set the level afterwards
        logging.getLogger(name).setLevel(logging.WARNING)
