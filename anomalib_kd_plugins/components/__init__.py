"""Blocks shared by ADPS and DMDD: patches, backbones, up-blocks, losses, map smoothing, synthesis."""
