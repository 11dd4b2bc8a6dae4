"""Model packages, one per paper, laid out like anomalib's own (torch_model, lightning_model, anomaly_map, loss)."""
