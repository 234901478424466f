"""mnistlab: the helpers behind the mnistlab notebook course.

The lessons live in the notebooks; this package is the plumbing, one module per job. The modules sit in
layers, bottom first. A module imports only from its own layer (without cycles) or from layers below it,
so the bottom can be read and tested alone; ``tests/test_layers.py`` reads every import and checks this.

1. ``device``: where tensors live, seeding, memory reuse on the CPU. ``files``: writing files safely
   (atomic, ordinary permissions, no litter). This file, ``mnistlab`` itself, imports none of them; it
   reads ``__version__`` from the installed package's metadata (the version is stated in pyproject.toml).
2. ``data``: MNIST, offline by default. ``models``: the course's CNNs. ``checkpoint``: saving and
   loading models and training runs. ``baselines``: the scores a first model has to beat.
   ``history``: ``History``, the metrics a training loop records.
3. ``train``: ``fit``, ``train_one_epoch`` and ``evaluate``. ``fast``: what ``fit(fast=True)`` changes.
   ``distributed``: data-parallel training under ``torchrun``. ``shapes``: layer output sizes.
   ``bench``: fair matmul timings.
4. ``viz``: plots, digit grids and computation graphs. ``widgets``: the notebooks' digit browser.
   ``pad``: ``DigitPad``, a pad to draw a digit on and see what a trained model receives and answers.
   ``exercises``: the exercises' checks (``check("08.2", answer)``) and their cells' layout.
5. ``cli`` (with ``__main__``): the command line, ``python -m mnistlab train``. ``doctor``: whether this
   machine is ready for the course (``python -m mnistlab doctor``). ``student``: the students' copies
   of the notebooks (``python -m mnistlab student``). ``grade``: grading a class's notebooks
   (``python -m mnistlab grade``).
"""

from importlib import metadata as _metadata

try:  # the version is stated once, in pyproject.toml; installing (pip install -e .) records it
    __version__ = _metadata.version("mnistlab")
except _metadata.PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"
