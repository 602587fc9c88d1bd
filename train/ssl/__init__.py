"""Self-supervised training: method variants as configs, the objective, and the training loop."""
