"""Real people for training: photographed cut-outs pasted over real background photos, labeled by the teacher.

The renderer's people are not real people, and a network trained on them alone does not find the limbs of a
real person (``benchmarks/results/sim2real.md``). The only real people this machine can reach come inside
registry packages; the most useful are the 55 cut-out photographs of about 20 real people (dancing, jumping,
breakdancing, football, standing, walking) in Debian's ``scratch`` (``sources.py``). ``composite.py`` pastes
them, moving, over real background photos into short clips; MediaPipe Heavy (``tvstream teacher``) labels them
in 2D; ``build.py`` keeps the labels that fall on the pasted person and builds a training cache of them, to be
mixed with the rendered world in ``tvstream train posenet``.
"""
