"""Transformer building blocks shared by the image and text encoders and decoders."""
from engine.layers.attention import Attention, CrossAttention, explaining
from engine.layers.blocks import BertBlock, ViTBlock

__all__ = ["Attention", "CrossAttention", "ViTBlock", "BertBlock", "explaining"]
