"""What ADPS and DMDD share: backbones, conv blocks, losses, map smoothing and fusion, synthetic anomalies, input
and path checks, the evaluator, option checking, and the Lightning mixin both models build on."""
