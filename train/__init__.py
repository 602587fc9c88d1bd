"""train: everything that learns — data, synthetic world, models, losses, loops, metrics, evaluation."""
