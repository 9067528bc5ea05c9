"""A small, embedded, procedurally drawn aerial-scene dataset: no download, deterministic, seconds.

Every image is drawn with numpy from a generator seeded by ``(seed, class, image index)``, so a
scene does not depend on how many classes or images are requested. Scenes are rendered at twice
the requested size and averaged down (anti-aliasing), then given per-image colour, illumination
and sensor-noise jitter. Intra-class variation comes from orientation, scale, density, palette
and occasional distractors (a trail through a forest, trees over a parking lot). A few classes
are deliberately confusable -- dense vs sparse residential, forest vs chaparral, water vs beach vs
river, runway vs freeway, golf course vs meadow -- so that metric-learning methods can differ.

The study default is :data:`DEFAULT_NUM_CLASSES` classes x :data:`DEFAULT_IMAGES_PER_CLASS`
images at :data:`DEFAULT_IMAGE_SIZE` px; up to :data:`MAX_CLASSES` classes and any size from 16 px
(128 px is the largest size the look is tuned for) are available.

Modules, from the bottom up: :mod:`~rsdml.data.synthetic.draw` (drawing primitives),
:mod:`~rsdml.data.synthetic.classes` (one painter per scene class, confusable pairs, distractors),
:mod:`~rsdml.data.synthetic.render` (one scene, or a configuration in memory) and
:mod:`~rsdml.data.synthetic.generate` (a configuration written to disk once). The dataset class
that lists the written files is :class:`rsdml.data.datasets.synthetic.SyntheticScenes`.
"""

from rsdml.data.synthetic.classes import (
    CONFUSABLE_PAIRS,
    DISTRACTORS,
    MAX_CLASSES,
    SCENES,
    SYNTHETIC_CLASSES,
)
from rsdml.data.synthetic.generate import generate_synthetic, synthetic_folder
from rsdml.data.synthetic.render import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_IMAGES_PER_CLASS,
    DEFAULT_NUM_CLASSES,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    MIN_IMAGE_SIZE,
    check_configuration,
    render_scene,
    scene_rng,
    synthetic_arrays,
)

__all__ = [
    "CONFUSABLE_PAIRS",
    "DEFAULT_IMAGES_PER_CLASS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_NUM_CLASSES",
    "DEFAULT_SEED",
    "DISTRACTORS",
    "GENERATOR_VERSION",
    "MAX_CLASSES",
    "MIN_IMAGE_SIZE",
    "SCENES",
    "SYNTHETIC_CLASSES",
    "check_configuration",
    "generate_synthetic",
    "render_scene",
    "scene_rng",
    "synthetic_arrays",
    "synthetic_folder",
]
