"""mnistlab: the helpers behind the mnistlab notebook course.

The lessons live in the notebooks; this package is the plumbing, one module per job. The modules sit in
layers, bottom first. A module imports only from its own layer (without cycles) or from layers below it,
so the bottom can be read and tested alone; ``tests/test_layers.py`` reads every import and checks this.

1. ``device``: where tensors live, seeding, memory reuse on the CPU. ``files``: writing files safely
   (atomic, ordinary permissions, no litter). This file, ``mnistlab`` itself, imports nothing.
2. ``data``: MNIST, offline by default. ``models``: the course's CNNs. ``checkpoint``: saving and
   loading models and training runs. ``baselines``: the scores a first model has to beat.
   ``history``: ``History``, the metrics a training loop records.
3. ``train``: ``fit``, ``train_one_epoch`` and ``evaluate``. ``fast``: what ``fit(fast=True)`` changes.
   ``distributed``: data-parallel training under ``torchrun``. ``shapes``: layer output sizes.
   ``bench``: fair matmul timings.
4. ``viz``: plots, digit grids and computation graphs. ``widgets``: the notebooks' digit browser.
5. ``cli`` (with ``__main__``): the command line, ``python -m mnistlab train``. ``doctor``: whether this
   machine is ready for the course (``python -m mnistlab doctor``).
"""

__version__ = "0.1.0"
