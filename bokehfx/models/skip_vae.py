"""SVD's temporal VAE with encoder-to-decoder skip connections (the Any-to-Bokeh VAE).

Any-to-Bokeh fine-tunes SVD's ``AutoencoderKLTemporalDecoder`` with four 1x1 convolutions (no
bias) that carry features of the all-in-focus frame from the encoder into the decoder, so that
in-focus detail survives the latent bottleneck. The features are the inputs of the encoder's down
blocks (the first is the output of ``conv_in``); taken deepest first, skip ``i`` adds its projection
of feature ``i`` to the decoder's hidden state just before up block ``i``.

:class:`SkipAutoencoderKLTemporalDecoder` is configuration on top of diffusers' class: the same
encoder, decoder and weights names, plus ``decoder_skips``. :meth:`encoder_features` gives the
features of a batch of frames; :meth:`decode_with_skips` decodes with them.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.autoencoder_kl_temporal_decoder import AutoencoderKLTemporalDecoder
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  (diffusers finds the base class here on load)
from torch import nn


def skip_channels(block_out_channels: tuple[int, ...]) -> list[tuple[int, int]]:
    r"""``(in, out)`` channels of each skip convolution, deepest encoder feature first.

    Args:
        block_out_channels (`tuple[int, ...]`): The VAE's block widths.

    Returns:
        `list[tuple[int, int]]`: One pair per decoder up block.
    """
    n = len(block_out_channels)
    feature = [block_out_channels[0]] + list(block_out_channels[:-1])  # input width of each down block
    reversed_out = list(reversed(block_out_channels))
    decoder_in = [reversed_out[0]] + reversed_out[:-1]  # width entering each up block
    return [(feature[n - 1 - i], decoder_in[i]) for i in range(n)]


class SkipAutoencoderKLTemporalDecoder(AutoencoderKLTemporalDecoder):
    r"""``AutoencoderKLTemporalDecoder`` whose decoder also receives the encoder's features.

    Args: those of ``AutoencoderKLTemporalDecoder``.
    """

    @register_to_config
    def __init__(self, in_channels: int = 3, out_channels: int = 3,
                 down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",),
                 block_out_channels: tuple[int, ...] = (64,), layers_per_block: int = 1, latent_channels: int = 4,
                 sample_size: int = 32, scaling_factor: float = 0.18215, force_upcast: bool = True) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels,
                         down_block_types=tuple(down_block_types), block_out_channels=tuple(block_out_channels),
                         layers_per_block=layers_per_block, latent_channels=latent_channels,
                         sample_size=sample_size, scaling_factor=scaling_factor, force_upcast=force_upcast)
        self.decoder_skips = nn.ModuleList(
            nn.Conv2d(cin, cout, kernel_size=1, bias=False) for cin, cout in skip_channels(tuple(block_out_channels)))

    def encoder_features(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        r"""The encoder's skip features of ``pixels`` ``(N, 3, H, W)`` in ``[-1, 1]``, deepest first."""
        enc = self.encoder
        x = enc.conv_in(pixels)
        features = []
        for block in enc.down_blocks:
            features.append(x)
            x = block(x)
        return features[::-1]

    def decode_with_skips(self, z: torch.Tensor, num_frames: int, features: list[torch.Tensor]) -> torch.Tensor:
        r"""Decode ``z`` ``(N, C, h, w)`` (N a multiple of ``num_frames``) with ``features`` of the same N frames.

        Args:
            z (`torch.Tensor`): Unscaled latents.
            num_frames (`int`): Frames per clip in ``z`` (the temporal layers mix over them).
            features (`list[torch.Tensor]`): From :meth:`encoder_features`.

        Returns:
            `torch.Tensor`: ``(N, 3, H, W)`` in about ``[-1, 1]``.
        """
        dec = self.decoder
        batch_frames = z.shape[0]
        indicator = torch.zeros(batch_frames // num_frames, num_frames, dtype=z.dtype, device=z.device)
        x = dec.conv_in(z)
        x = dec.mid_block(x, image_only_indicator=indicator)
        x = x.to(next(dec.up_blocks.parameters()).dtype)
        for up_block, skip, feature in zip(dec.up_blocks, self.decoder_skips, features):
            x = up_block(x + skip(feature.to(x.dtype)), image_only_indicator=indicator)
        x = dec.conv_out(dec.conv_act(dec.conv_norm_out(x)))
        _, channels, height, width = x.shape
        x = x.reshape(-1, num_frames, channels, height, width).permute(0, 2, 1, 3, 4)
        x = dec.time_conv_out(x)
        return x.permute(0, 2, 1, 3, 4).reshape(batch_frames, channels, height, width)
