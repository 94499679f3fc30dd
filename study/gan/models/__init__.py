"""Generator and discriminator architectures, registered by name.

Models know nothing of the trial: an architecture is built from shapes and normalizers only.
"""
# Importing the modules registers their architectures.
from study.gan.models import dcgan, resnet, sndcgan  # noqa: F401,E402
from study.gan.models.heads import HEADS, Head
from study.gan.models.registry import ARCHITECTURES, Architecture, ModelOptions, build_models

__all__ = ["ARCHITECTURES", "Architecture", "HEADS", "Head", "ModelOptions", "build_models"]
