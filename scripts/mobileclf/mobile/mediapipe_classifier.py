"""The deployed bundle in the runtime apps use: MediaPipe Tasks' ``ImageClassifier``.

The TFLite Task Library is deprecated; Android, iOS and web apps now load an image
classifier through MediaPipe Tasks, which reads our TFLite metadata itself: the input
normalisation (``NormalizationOptions``) and the class names (the packed labels file).
Our own phone paths (:mod:`mobileclf.mobile.predict`) feed the LiteRT interpreter with
the normalisation we read back from the metadata and name classes from labels.txt; this
module lets MediaPipe do both from the bundle alone, so a bundle whose metadata is wrong
or unreadable shows up here and not first in an app.

What MediaPipe gets: each holdout image decoded and (when the dataset segments)
segmented exactly as on the gallery path (:func:`mobileclf.data.images.load_rgb`, the
app's decode), as an ``mp.Image`` in SRGB. MediaPipe then resizes it to the model's input
and normalises it from the metadata, as it does in an app. So the ``mediapipe`` path
differs from our ``gallery`` path only in who resizes and normalises (MediaPipe, against
our emulation of Android's bilinear scaling plus the metadata's NormalizeOp). To tell the
two causes apart, every image is also given to MediaPipe at the gallery path's model
size, where its resize has nothing to do: agreement there measures the runtime and the
metadata alone (``same_input_predicted``).

What MediaPipe's resize is (measured, :func:`mediapipe_resize`): on the CPU it maps the
image onto the input tensor with a bilinear affine warp, output pixel ``x`` reading the
source at ``x * width / size`` (top-left aligned, no antialiasing), so at a 4x downscale it
reads one source pixel in four, where Android's ``createScaledBitmap`` (our gallery path)
averages two pixels around the centre of each block. The LiteRT interpreter fed
:func:`mediapipe_resize` of the decoded image gives MediaPipe's scores exactly at integer
downscale factors and within 0.0005 (float models) or one uint8 output step (int8)
otherwise, the same class on every image measured (tests/workflow/test_mediapipe_run.py);
on the gallery path's own pixels MediaPipe gives LiteRT's scores exactly. Where MediaPipe
and the gallery path disagree, the two resizes gave the model different pixels, nothing
else.
"""

from __future__ import annotations

import itertools
import re
import sys
import types
from pathlib import Path

import numpy as np

from mobileclf.errors import UserError


class MediaPipeRefusedError(UserError):
    """MediaPipe's ImageClassifier cannot load a bundle (bad or missing metadata)."""


def one_line(error: BaseException) -> str:
    """MediaPipe's message on one line (its C++ status texts span several)."""
    text = re.sub(r"\s+", " ", str(error)).strip()
    return text or type(error).__name__


_DOC_CONTROLS = (
    "tensorflow",
    "tensorflow.tools",
    "tensorflow.tools.docs",
    "tensorflow.tools.docs.doc_controls",
)


def _import_mediapipe():
    """MediaPipe's vision tasks, imported without TensorFlow when TensorFlow is not loaded.

    ``mediapipe.tasks.python`` imports TensorFlow only for the no-op documentation decorator
    ``doc_controls.do_not_generate_docs`` (``core/optional_dependencies.py``), and that
    import is 10 s of a mobile_predict job (35 s on a loaded machine) for a 50 ms
    classification. Stand-in modules answer that one import and are removed right after,
    so a later ``import tensorflow`` in the same process gets the real one. With
    TensorFlow already loaded (the Keras job, a test process) nothing is replaced.
    """
    if "tensorflow" not in sys.modules and "mediapipe.tasks.python" not in sys.modules:
        stubs = {name: types.ModuleType(name) for name in _DOC_CONTROLS}
        stubs[_DOC_CONTROLS[-1]].do_not_generate_docs = lambda target: target
        for parent, child in itertools.pairwise(_DOC_CONTROLS):
            setattr(stubs[parent], child.rsplit(".", 1)[1], stubs[child])
        sys.modules.update(stubs)
        try:
            import mediapipe.tasks.python.vision  # noqa: F401
        finally:
            for name in _DOC_CONTROLS:
                if sys.modules.get(name) is stubs[name]:
                    del sys.modules[name]
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import image_classifier
    from mediapipe.tasks.python.vision.core.image import Image, ImageFormat

    return types.SimpleNamespace(
        BaseOptions=BaseOptions,
        image_classifier=image_classifier,
        Image=Image,
        ImageFormat=ImageFormat,
    )


def load_classifier(model_path: str | Path):
    """An ``ImageClassifier`` for ``model_path`` returning every class's score, or
    :class:`MediaPipeRefusedError` naming the file with MediaPipe's own reason."""
    mp = _import_mediapipe()
    BaseOptions, image_classifier = mp.BaseOptions, mp.image_classifier

    options = image_classifier.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)), max_results=-1
    )
    try:
        return image_classifier.ImageClassifier.create_from_options(options)
    except (RuntimeError, ValueError, OSError) as error:  # a missing NormalizationOptions
        # comes as FileNotFoundError (MediaPipe maps its status codes to Python errors)
        raise MediaPipeRefusedError(
            f"{model_path}: MediaPipe's ImageClassifier refuses this bundle: "
            f"{one_line(error)}; apps cannot load it either: fix the export stage's "
            "metadata (docs/export.md) and rerun it"
        ) from None


def classify(classifier, rgb: np.ndarray) -> list[tuple[str, float]]:
    """(category name, score) of every class, best first, as MediaPipe returns them for
    one decoded RGB image (uint8, height × width × 3)."""
    mp = _import_mediapipe()
    image = mp.Image(
        image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb, dtype=np.uint8)
    )
    result = classifier.classify(image)
    return [(c.category_name, float(c.score)) for c in result.classifications[0].categories]


def scores_by_label(
    categories: list[tuple[str, float]], labels: list[str], model_path: str | Path
) -> tuple[int, np.ndarray]:
    """MediaPipe's answer as (index of its top category's name in ``labels``, one score per
    label). The names come from the bundle's metadata; ``labels`` is the dataset's class
    order, used only to line the scores up with the other paths' ``prob_k`` columns."""
    names = [name or "" for name, _ in categories]  # None: no labels in the metadata
    if sorted(names) != sorted(labels):
        raise MediaPipeRefusedError(
            f"{model_path}: MediaPipe reads the classes {names} from the bundle's metadata, "
            f"the dataset has {labels}; the packed labels are wrong: rerun the export stage"
        )
    scores = np.zeros(len(labels))
    for name, score in categories:
        scores[labels.index(name)] = score
    return labels.index(names[0]), scores


def mediapipe_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """The model input MediaPipe's ImageClassifier makes of a decoded RGB image on the CPU
    (measured against it, see the module's docstring): bilinear ``cv2.warpAffine`` with output pixel
    ``x`` at source ``x * width / size``, borders replicated."""
    import cv2

    height, width = rgb.shape[:2]
    matrix = np.array([[size / width, 0.0, 0.0], [0.0, size / height, 0.0]])
    return cv2.warpAffine(
        np.ascontiguousarray(rgb, dtype=np.uint8),
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def mediapipe_predict(
    model_path: str | Path, images: list[np.ndarray], labels: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(top class index, scores per class) of every image through MediaPipe's classifier:
    the index is MediaPipe's first category (what an app shows), not an argmax of ours."""
    classifier = load_classifier(model_path)
    try:
        answers = [scores_by_label(classify(classifier, rgb), labels, model_path) for rgb in images]
    finally:
        classifier.close()
    return (
        np.array([top for top, _ in answers], dtype=int),
        np.array([scores for _, scores in answers]).reshape(len(answers), len(labels)),
    )
