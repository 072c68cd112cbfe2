"""The bokeh image encoder (BIE): a small Q-Former from CLIP patch tokens to bokeh tokens.

Learnable queries attend to the patch tokens of a reference bokeh image (from a CLIP vision
encoder). The few tokens that come out carry the look of the blur (pattern, strength, highlight
shape) rather than the scene: there are far fewer queries than patches, and training pairs take
their reference from a different scene than their content.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

#: Width of the feed-forward layer of each Q-Former block, as a multiple of ``hidden_dim``.
FEED_FORWARD_MULTIPLE = 4


class _QFormerBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_cross = nn.LayerNorm(dim)
        self.norm_patches = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim * FEED_FORWARD_MULTIPLE), nn.GELU(),
                                nn.Linear(dim * FEED_FORWARD_MULTIPLE, dim))

    def forward(self, queries: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        q = self.norm_self(queries)
        queries = queries + self.self_attn(q, q, q, need_weights=False)[0]
        q = self.norm_cross(queries)
        p = self.norm_patches(patches)
        queries = queries + self.cross_attn(q, p, p, need_weights=False)[0]
        return queries + self.ff(self.norm_ff(queries))


class BokehQFormer(ModelMixin, ConfigMixin):
    r"""Learnable queries + cross-attention: CLIP patch tokens in, bokeh tokens out.

    Args:
        input_dim (`int`, defaults to 1280): Width of the CLIP vision encoder's hidden states.
        hidden_dim (`int`, defaults to 768): Width inside the Q-Former.
        output_dim (`int`, defaults to 1024): Width of the bokeh tokens (the UNet's cross-attention width).
        num_queries (`int`, defaults to 16): Number of bokeh tokens.
        num_layers (`int`, defaults to 4): Number of blocks.
        num_heads (`int`, defaults to 12): Attention heads per block.
    """

    @register_to_config
    def __init__(self, input_dim: int = 1280, hidden_dim: int = 768, output_dim: int = 1024, num_queries: int = 16,
                 num_layers: int = 4, num_heads: int = 12) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(1, num_queries, hidden_dim) * hidden_dim ** -0.5)
        self.proj_in = nn.Linear(input_dim, hidden_dim)
        self.blocks = nn.ModuleList([_QFormerBlock(hidden_dim, num_heads) for _ in range(num_layers)])
        self.proj_out = nn.Linear(hidden_dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)

    def forward(self, patch_tokens: torch.Tensor) -> torch.Tensor:
        r"""Bokeh tokens of a batch of reference images.

        Args:
            patch_tokens (`torch.Tensor`): ``(B, P, input_dim)`` CLIP vision hidden states.

        Returns:
            `torch.Tensor`: ``(B, num_queries, output_dim)``.
        """
        patches = self.proj_in(patch_tokens)
        queries = self.queries.expand(patch_tokens.shape[0], -1, -1).to(patches.dtype)
        for block in self.blocks:
            queries = block(queries, patches)
        return self.norm_out(self.proj_out(queries))
