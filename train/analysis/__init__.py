"""What the learned features hold: subject clustering of ``ti`` vs ``tv`` and pose/appearance swap pictures."""
