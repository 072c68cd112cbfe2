"""Decoupled cross-attention (the "TIF" fusion): context tokens and bokeh tokens side by side.

A cross-attention layer of the UNet receives its ``encoder_hidden_states`` as context tokens
followed by ``num_tokens`` bokeh tokens. The context tokens (text, or a CLIP embedding of the
frame) go through the layer's own key/value projections; the bokeh tokens go through a second
pair owned by this processor; the two attention outputs are added, the bokeh one times ``scale``
(the IP-Adapter pattern). Because the processor is an ``nn.Module`` set on the ``Attention``
layer, its projections are child modules of the UNet: trained, saved and loaded with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from torch import nn


class DecoupledCrossAttnProcessor(nn.Module):
    r"""Cross-attention over context tokens plus a separately projected set of bokeh tokens.

    Args:
        hidden_size (`int`): Inner width of the attention layer (output of its ``to_k``).
        cross_attention_dim (`int`): Width of the tokens.
        num_tokens (`int`): Number of bokeh tokens at the end of ``encoder_hidden_states``.
        scale (`float`, defaults to 1.0): Weight of the bokeh attention output.
    """

    def __init__(self, hidden_size: int, cross_attention_dim: int, num_tokens: int, scale: float = 1.0) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.scale = scale
        self.to_k_bokeh = nn.Linear(cross_attention_dim, hidden_size, bias=False)
        self.to_v_bokeh = nn.Linear(cross_attention_dim, hidden_size, bias=False)

    @staticmethod
    def _attend(attn: Attention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        batch = query.shape[0]
        head_dim = key.shape[-1] // attn.heads
        q = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        k = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        v = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
        return out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)

    def forward(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None) -> torch.Tensor:
        r"""Attend ``hidden_states`` ``(B, L, C)`` (or ``(B, C, H, W)``) to context + bokeh tokens.

        Args:
            attn (`Attention`): The layer this processor serves.
            hidden_states (`torch.Tensor`): Queries.
            encoder_hidden_states (`torch.Tensor`): ``(B, N + num_tokens, D)`` context then bokeh tokens.
            attention_mask (`torch.Tensor`, *optional*): Not supported (must be ``None``).
            temb (`torch.Tensor`, *optional*): Time embedding for layers with a spatial norm.

        Returns:
            `torch.Tensor`: Same shape as ``hidden_states``.
        """
        if attention_mask is not None:
            raise ValueError("DecoupledCrossAttnProcessor does not take an attention mask")
        if encoder_hidden_states is None:
            raise ValueError("DecoupledCrossAttnProcessor serves cross-attention layers only")
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        four_d = hidden_states.ndim == 4
        if four_d:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        context = encoder_hidden_states[:, : encoder_hidden_states.shape[1] - self.num_tokens]
        bokeh = encoder_hidden_states[:, encoder_hidden_states.shape[1] - self.num_tokens:]
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.to_q(hidden_states)
        out = self._attend(attn, query, attn.to_k(context), attn.to_v(context))
        if self.num_tokens:
            out = out + self.scale * self._attend(attn, query, self.to_k_bokeh(bokeh), self.to_v_bokeh(bokeh))
        out = attn.to_out[1](attn.to_out[0](out))
        if four_d:
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install_decoupled_attention(model: nn.Module, num_tokens: int, scale: float) -> int:
    r"""Put a :class:`DecoupledCrossAttnProcessor` on every cross-attention layer (``attn2``) of ``model``.

    Args:
        model (`nn.Module`): A UNet.
        num_tokens (`int`): Bokeh tokens at the end of ``encoder_hidden_states``.
        scale (`float`): Weight of the bokeh attention.

    Returns:
        `int`: The number of layers changed.
    """
    count = 0
    for name, module in model.named_modules():
        if isinstance(module, Attention) and name.endswith("attn2"):
            module.set_processor(DecoupledCrossAttnProcessor(module.to_k.out_features, module.to_k.in_features,
                                                             num_tokens, scale))
            count += 1
    return count
