"""The Any-to-Bokeh variant of the UNet's spatial transformer blocks: a gated fuser with a K embedding.

Any-to-Bokeh (ICLR 2026) inserts a "fuser" after the self-attention of every spatial transformer
block of SVD's UNet. As its released checkpoint was trained and as its released code runs it:

1. the per-frame blur strength ``K`` becomes 16 Fourier features (frequencies
   ``temperature ** linspace(0, 1, 16)``, temperature 100, sine and cosine interleaved), goes
   through a linear layer to the block width and is added to every token of that frame;
2. a gated self-attention over the visual tokens (gate ``tanh(alpha_attn)``). The released code
   also appends projected multi-plane (MPI) tokens to this attention, but its key mask leaves every
   MPI token out, so they never reach the output; attending over the visual tokens alone is the
   same computation;
3. a gated dense branch (gate ``tanh(alpha_dense)``) that applies one feed-forward network to two
   differently normalised copies of the tokens and adds both.

:func:`install_blur_fusers` puts a :class:`BlurFuser` into every spatial
``BasicTransformerBlock`` of a UNet; the blocks read the K features for the current forward pass
from a shared :class:`FuserContext` that the UNet fills (see
:class:`~bokehfx.models.unet.BokehUNetSpatioTemporalModel`, ``blur_fuser_frequencies``).
"""

from __future__ import annotations

import torch
from diffusers.models.attention import BasicTransformerBlock, FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.transformers.transformer_temporal import TransformerSpatioTemporalModel
from torch import nn

#: Fourier frequencies and temperature of Any-to-Bokeh's K embedding.
ANY_TO_BOKEH_FREQUENCIES = 16
ANY_TO_BOKEH_TEMPERATURE = 100.0


def interleaved_fourier_features(values: torch.Tensor, frequencies: int, temperature: float) -> torch.Tensor:
    r"""``[sin(v w_0), cos(v w_0), sin(v w_1), ...]`` with ``w_j = temperature ** (j / (frequencies - 1))``.

    Args:
        values (`torch.Tensor`): Any shape (e.g. ``(B, F)`` K per frame).
        frequencies (`int`): Number of frequencies (at least 2).
        temperature (`float`): Highest frequency.

    Returns:
        `torch.Tensor`: ``(*values.shape, 2 * frequencies)`` in the dtype of ``values``.
    """
    bands = temperature ** torch.linspace(0, 1, frequencies, device=values.device, dtype=values.dtype)
    angles = values.unsqueeze(-1) * bands
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)


class FuserContext:
    """Per-forward-pass inputs of the fusers: the K features of every frame, ``(B*F, 2 * frequencies)``."""

    def __init__(self) -> None:
        self.features: torch.Tensor | None = None


class BlurFuser(nn.Module):
    r"""K embedding plus gated self-attention and gated dense branches (zero gates: identity but the K term).

    Args:
        dim (`int`): Token width.
        heads (`int`), head_dim (`int`): Attention heads and their width.
        feature_dim (`int`): Width of the K features (``2 * frequencies``).
    """

    def __init__(self, dim: int, heads: int, head_dim: int, feature_dim: int) -> None:
        super().__init__()
        self.k_encoder = nn.Linear(feature_dim, dim)
        self.attn = Attention(query_dim=dim, heads=heads, dim_head=head_dim)
        self.ff = FeedForward(dim, activation_fn="geglu")
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm_k = nn.LayerNorm(dim)
        self.alpha_attn = nn.Parameter(torch.tensor(0.0))
        self.alpha_dense = nn.Parameter(torch.tensor(0.0))

    def forward(self, tokens: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        r"""Fuse ``tokens`` ``(B*F, L, dim)`` with the K ``features`` ``(B*F, feature_dim)``."""
        x = tokens + self.k_encoder(features.to(tokens.dtype)).unsqueeze(1)
        x = x + self.alpha_attn.tanh() * self.attn(self.norm1(x))
        gate = self.alpha_dense.tanh()
        return x + gate * self.ff(self.norm2(x)) + gate * self.ff(self.norm_k(x))


class FusedTransformerBlock(BasicTransformerBlock):
    """A layer-norm ``BasicTransformerBlock`` with a :class:`BlurFuser` between self- and cross-attention."""

    fuser: BlurFuser
    fuser_context: FuserContext

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                encoder_hidden_states: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        r"""Self-attention, the fuser, cross-attention, feed-forward (pre-norm residuals).

        Args:
            hidden_states (`torch.Tensor`): ``(B*F, L, dim)`` tokens.
            attention_mask (`torch.Tensor`, *optional*): Self-attention mask.
            encoder_hidden_states (`torch.Tensor`, *optional*): Cross-attention context.

        Returns:
            `torch.Tensor`: ``(B*F, L, dim)``.
        """
        features = self.fuser_context.features
        if features is None:
            raise ValueError("the fused transformer block needs K features: run it through its UNet with blur")
        hidden_states = hidden_states + self.attn1(self.norm1(hidden_states), attention_mask=attention_mask)
        hidden_states = self.fuser(hidden_states, features)
        if self.attn2 is not None:
            hidden_states = hidden_states + self.attn2(self.norm2(hidden_states),
                                                       encoder_hidden_states=encoder_hidden_states)
        return hidden_states + self.ff(self.norm3(hidden_states))


def install_blur_fusers(model: nn.Module, frequencies: int) -> FuserContext:
    r"""Give every spatial transformer block of ``model`` a :class:`BlurFuser`.

    Args:
        model (`nn.Module`): A spatio-temporal UNet.
        frequencies (`int`): Fourier frequencies of the K features.

    Returns:
        `FuserContext`: The context shared by the fusers (the UNet fills it per forward pass).
    """
    context = FuserContext()
    for module in model.modules():
        if not isinstance(module, TransformerSpatioTemporalModel):
            continue
        for block in module.transformer_blocks:
            if block.norm_type != "layer_norm":
                raise ValueError(f"blur fusers need layer-norm transformer blocks, got {block.norm_type}")
            attn = block.attn1
            block.__class__ = FusedTransformerBlock
            block.fuser = BlurFuser(attn.query_dim, attn.heads, attn.inner_dim // attn.heads, 2 * frequencies)
            object.__setattr__(block, "fuser_context", context)
    return context
