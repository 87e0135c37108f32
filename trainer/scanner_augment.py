"""Other scanners' look, drawn at random on a preprocessed MRI: contrast curve, intensity window, bias field, noise,
slice thickness and head pose.

The image encoder learns from one acquisition protocol. On the "other scanners" cohort (`alifuse-synth
--acquisition shifted`: stronger contrast curves, bias fields and noise, thick slices, larger head tilts) its
reading fell from 86 to 79 % AUC; each of these changes alone, made on the test cohort's preprocessed volumes,
costs 2-6 points (docs/RESULTS.md, "The MRI on other scanners"). Drawing them while training teaches the encoder
to read the anatomy and not the protocol. The ranges cover the shifted cohort's settings and a little more; they
are applied in the model grid (S, S, S) after preprocessing, where they are cheap, so they are approximations:
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
        noise = rng.normal(0.0, 1.0, image.shape)
        if u[0] < self.clean:
            return np.ascontiguousarray(image, dtype=np.float32)
        x = np.clip(image.astype(np.float64), 0.0, 1.0)
        plane = _PLANES[int(u[1] * 3) % 3]
        angle = (2.0 * u[2] - 1.0) * self.rotate
        if angle:
            x = ndi.rotate(x, angle, axes=plane, reshape=False, order=1, mode="constant", cval=0.0)
        sigma = u[3] * self.blur
        if sigma > 0.05:
            x = ndi.gaussian_filter1d(x, sigma, axis=int(u[4] * 3) % 3, mode="constant")
        x = np.clip(x, 0.0, 1.0) ** float(np.exp((2.0 * u[5] - 1.0) * np.log(self.gamma)))
        if self.bias > 0:
            coarse = ndi.gaussian_filter(coarse, 0.8, mode="nearest")
            coarse *= u[6] * self.bias / max(float(coarse.std()), 1e-6)
            zoom = [s / 4.0 for s in x.shape]
            field = ndi.zoom(coarse, zoom, order=1, mode="nearest", grid_mode=True)[: x.shape[0], : x.shape[1],
                                                                                    : x.shape[2]]
            x = x * np.exp(field)
        x = x * (self.scale + (1.0 - self.scale) * u[7])
        # MR magnitude images: noise everywhere, the background's included, folded to positive values.
        x = np.abs(x + noise * (self.noise * u[8]))
        return np.clip(x, 0.0, 1.0).astype(np.float32)
