"""mnistlab: the helpers behind the mnistlab notebook course.

One module per job: ``device`` (where tensors live, seeding), ``data`` (MNIST,
offline by default), ``models``, ``train``, ``checkpoint``, ``viz`` (plots),
``widgets``, ``bench`` (timing done right), ``shapes`` and ``cli``.
The lessons themselves live in the notebooks; this package is the plumbing.
"""

__version__ = "0.1.0"
