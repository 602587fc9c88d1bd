"""The synthetic world: anny bodies, procedural motions, cameras and venues rendered to labeled video."""
