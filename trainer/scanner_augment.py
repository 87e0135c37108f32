"""Other scanners' look, drawn at random on a preprocessed MRI: contrast curve, intensity window, bias field, noise,
slice thickness and head pose.

The image encoder learns from one acquisition protocol. On the "other scanners" cohort (`alifuse-synth
--acquisition shifted`: stronger contrast curves, bias fields and noise, thick slices, larger head tilts) its
reading fell from 86 to 79 % AUC; each of these changes alone, made on the test cohort's preprocessed volumes,
costs 2-6 points (docs/RESULTS.md, "The MRI on other scanners"). Drawing them while training teaches the encoder
to read the anatomy and not the protocol. The ranges are those of the shifted cohort's settings (its contrast
curves 0.75-1.3, bias fields up to 0.35, head tilts up to 8 degrees; its noise, up to 0.06 of white matter, is in
other units than the noise here, a share of the [0, 1] intensity window). They are applied in the model grid
(S, S, S) after preprocessing, where they are cheap, so they are approximations:
the intensity window of a scan with its skull left in shows here as a scale of the intensities, and Rician
noise as the magnitude of Gaussian noise.

Every draw comes from one generator and the number of draws is fixed, so a case's augmentation is reproducible
from (seed, epoch, index) like trainer.augment's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from engine.errors import AlifuseInputError
from trainer.synth.acquisition import log_bias_field

_PLANES = ((0, 1), (0, 2), (1, 2))


@dataclass(frozen=True)
class ScannerAugment:
    """Ranges of the random acquisition changes; each change is drawn for every case (``clean``: none at all)."""

    gamma: float = 1.4          # contrast curve x ** g, g log-uniform in [1/gamma, gamma]
    scale: float = 0.7          # intensities multiplied by a factor uniform in [scale, 1], as a wider window
    bias: float = 0.35          # largest log-std of a smooth multiplicative field (4^3 control points)
    noise: float = 0.05         # largest noise sigma, in units of the [0, 1] intensity range
    blur: float = 1.0           # largest Gaussian sigma (voxels) along one axis: thick slices
    rotate: float = 8.0         # largest head tilt in degrees, about one axis
    clean: float = 0.2          # probability that a case is left as it is

    def __post_init__(self) -> None:
        checks = {"gamma": self.gamma >= 1.0, "scale": 0.0 < self.scale <= 1.0, "bias": 0.0 <= self.bias <= 1.0,
                  "noise": 0.0 <= self.noise <= 0.5, "blur": 0.0 <= self.blur <= 4.0,
                  "rotate": 0.0 <= self.rotate <= 30.0, "clean": 0.0 <= self.clean <= 1.0}
        for name, ok in checks.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok:
                raise AlifuseInputError(f"scanner augmentation '{name}': {value!r} is out of its range")

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(S, S, S) in [0, 1] -> the same scan as another scanner might give it, float32 in [0, 1]."""
        u = rng.random(9)
        coarse = rng.normal(0.0, 1.0, (4, 4, 4))
        normal = rng.normal(0.0, 1.0, image.shape)
        if u[0] < self.clean:
            return np.ascontiguousarray(image, dtype=np.float32)
        x = np.clip(image.astype(np.float64), 0.0, 1.0)
        x = tilt(x, (2.0 * u[2] - 1.0) * self.rotate, _PLANES[int(u[1] * 3) % 3])
        x = thick_slices(x, u[3] * self.blur, int(u[4] * 3) % 3)
        x = contrast(x, float(np.exp((2.0 * u[5] - 1.0) * np.log(self.gamma))))
        x = bias_field(x, coarse, u[6] * self.bias)
        x = x * (self.scale + (1.0 - self.scale) * u[7])
        return noise(x, normal, self.noise * u[8]).astype(np.float32)


def tilt(x: np.ndarray, degrees: float, plane: tuple[int, int]) -> np.ndarray:
    """(S, S, S) turned by ``degrees`` about the volume's centre in ``plane`` (two axes); zero outside."""
    if not degrees:
        return x
    return ndi.rotate(x, degrees, axes=plane, reshape=False, order=1, mode="constant", cval=0.0)


def thick_slices(x: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """(S, S, S) blurred along one axis by a Gaussian of ``sigma`` voxels, as thick slices are."""
    return ndi.gaussian_filter1d(x, sigma, axis=axis, mode="constant") if sigma > 0.05 else x


def contrast(x: np.ndarray, gamma: float) -> np.ndarray:
    """Another sequence's intensity curve: x ** gamma on [0, 1] (keeps the order of intensities)."""
    return np.clip(x, 0.0, 1.0) ** gamma


def bias_field(x: np.ndarray, coarse: np.ndarray, strength: float) -> np.ndarray:
    """(S, S, S) times exp of a smooth field: ``coarse`` (4, 4, 4) normal draws, smoothed, scaled to log-std
    ``strength`` and interpolated to the volume."""
    if strength <= 0:
        return x
    return x * np.exp(log_bias_field(coarse, x.shape, strength))  # the synthetic scanners' own field


def noise(x: np.ndarray, normal: np.ndarray, sigma: float) -> np.ndarray:
    """MR magnitude noise: ``normal`` (S, S, S) draws times ``sigma`` added everywhere, the background's included,
    folded to positive values; clipped to [0, 1]."""
    return np.clip(np.abs(x + normal * sigma), 0.0, 1.0)
