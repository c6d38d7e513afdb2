"""VOLTA's encoder as torch modules: embeddings, gated sublayers, poolers and heads.

VOLTA re-implements LXMERT, ViLBERT, VL-BERT, VisualBERT and UNITER as one encoder whose
layout a ``VoltaConfig`` describes: a stack of *sublayers*, each an attention sublayer or a
feed-forward sublayer, and for each attention sublayer which of the four attention blocks
it has: text->text (tt), text->vision (tv), vision->text (vt), vision->vision (vv).

- Single-stream models (UNITER, VisualBERT, VL-BERT) have all four in every attention
  sublayer, with one set of weights for both modalities (``shared_sublayers``): plain BERT
  over the concatenation [text; regions]. They differ only in their embeddings.
- ViLBERT has text-only BERT layers, then co-attention (tv + vt, separate weights) and
  per-stream self-attention (tt / vv, separate weights).
- LXMERT has text-only and vision-only layers, then cross-attention (tv + vt, one set of
  weights for both directions) followed by per-stream self-attention.

Where a sublayer has both tt and tv, the text queries take one softmax over the
concatenated text and vision keys (likewise vt + vv); a stream a sublayer does not touch
passes through unchanged. This is our own code; it reproduces the computation and the
state-dict names of VOLTA's ``BertForVLPreTraining`` (``volta/encoders.py``,
``volta/embeddings.py``) so that the published checkpoints load strictly.

Shapes: B batch, T text tokens, R regions (1 + R visual rows with the global one first),
H hidden size (V for the vision stream), h heads, d head size, M / K read-out positions.

nn only: may import torch, ``.config`` and ``..common``; no checkpoint files, no protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..common import gather_positions
from .config import VoltaConfig

__all__ = ["VoltaForPretraining", "VoltaOutput", "SHARED_EMBEDDINGS", "DUAL_EMBEDDINGS", "volta_shift_from"]


ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),  # the exact (erf) GELU, as VOLTA's gelu()
    "relu": F.relu,
    "swish": lambda x: x * torch.sigmoid(x),
}


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(
            f"VOLTA config: activation {name!r} is not one of {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


def _layer_norm(size: int, config: VoltaConfig) -> nn.LayerNorm:
    return nn.LayerNorm(size, eps=config.layer_norm_eps)


# ==================================================================================== #
#                                      Embeddings                                      #
# ==================================================================================== #
class TextEmbeddings(nn.Module):
    """BERT's word + position + segment embeddings (dual-stream models' ``bert.embeddings``)."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = _layer_norm(config.hidden_size, config)

    def summed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]  # (1, T)
        return (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings(token_type_ids)
        )  # (B, T, H)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.summed(input_ids, token_type_ids))  # (B, T, H)


class _RegionProjections(nn.Module):
    """W_f (feature) and W_l (box) of the dual-stream models; subclasses add their norms."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.image_embeddings = nn.Linear(config.v_feature_size, config.v_hidden_size)
        self.image_location_embeddings = nn.Linear(config.num_locs, config.v_hidden_size)


class ViLBertImageEmbeddings(_RegionProjections):
    """LayerNorm(W_f feature + W_l box)."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__(config)
        self.LayerNorm = _layer_norm(config.v_hidden_size, config)

    def forward(self, image_feat: torch.Tensor, image_loc: torch.Tensor) -> torch.Tensor:
        # image_feat (B, 1+R, D), image_loc (B, 1+R, 5)
        return self.LayerNorm(
            self.image_embeddings(image_feat) + self.image_location_embeddings(image_loc)
        )  # (B, 1+R, V)


class LxmertImageEmbeddings(_RegionProjections):
    """(LayerNorm(W_f feature) + LayerNorm(W_l box)) / 2."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__(config)
        self.ImgLayerNorm = _layer_norm(config.v_hidden_size, config)
        self.LocLayerNorm = _layer_norm(config.v_hidden_size, config)

    def forward(self, image_feat: torch.Tensor, image_loc: torch.Tensor) -> torch.Tensor:
        features = self.ImgLayerNorm(self.image_embeddings(image_feat))  # (B, 1+R, V)
        locations = self.LocLayerNorm(self.image_location_embeddings(image_loc))  # (B, 1+R, V)
        return (features + locations) / 2  # (B, 1+R, V)


class UniterEmbeddings(TextEmbeddings):
    """Text as BERT; regions: LN(LN(W_f f) + LN(W_l box) + segment 1), segment table shared."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__(config)
        self.image_embeddings = nn.Linear(config.v_feature_size, config.v_hidden_size)
        self.image_location_embeddings = nn.Linear(config.num_locs, config.v_hidden_size)
        self.image_layer_norm = _layer_norm(config.hidden_size, config)
        self.image_location_layer_norm = _layer_norm(config.hidden_size, config)
        self.v_LayerNorm = _layer_norm(config.hidden_size, config)

    def forward(self, input_ids, image_feat, image_loc, token_type_ids):
        text = self.LayerNorm(self.summed(input_ids, token_type_ids))  # (B, T, H)
        segment = self.token_type_embeddings.weight[1]  # (H,)
        vision = (
            self.image_layer_norm(self.image_embeddings(image_feat))
            + self.image_location_layer_norm(self.image_location_embeddings(image_loc))
            + segment
        )  # (B, 1+R, H)
        return text, self.v_LayerNorm(vision)


class VisualBertEmbeddings(TextEmbeddings):
    """Regions: W f + visual position 0 + visual segment 1 (boxes unused); one LN for both."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__(config)
        self.projection = nn.Linear(config.v_feature_size, config.hidden_size)
        self.token_type_embeddings_visual = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.position_embeddings_visual = nn.Embedding(
            config.max_position_embeddings, config.hidden_size
        )

    def forward(self, input_ids, image_feat, image_loc, token_type_ids):
        text = self.summed(input_ids, token_type_ids)  # (B, T, H)
        vision = (
            self.projection(image_feat)
            + self.position_embeddings_visual.weight[0]
            + self.token_type_embeddings_visual.weight[1]
        )  # (B, 1+R, H)
        return self.LayerNorm(text), self.LayerNorm(vision)


def box_sinusoids(image_loc: torch.Tensor, dim: int) -> torch.Tensor:
    """VL-BERT's sin/cos embedding of (centre x, centre y, w, h) * 100: (B, K, 4 * 2 * dim)."""
    x1, y1, x2, y2 = image_loc[..., 0], image_loc[..., 1], image_loc[..., 2], image_loc[..., 3]
    position = torch.stack(
        [(x1 + x2) / 2 * 100, (y1 + y2) / 2 * 100, (x2 - x1) * 100, (y2 - y1) * 100], -1
    )  # (B, K, 4)
    wavelengths = 1000 ** (
        torch.arange(dim, dtype=image_loc.dtype, device=image_loc.device) / float(dim)
    )  # (dim,)
    angles = position[..., None] / wavelengths  # (B, K, 4, dim)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # (B, K, 4 * 2 * dim)


class VLBertEmbeddings(TextEmbeddings):
    """VL-BERT's embeddings, as VOLTA computes them.

    Regions: ReLU(W [box sinusoids; feature]) after a LayerNorm, plus an "object" word
    embedding (the last region gets the "end" embedding), segment 2, and position
    ``text_end`` (the last region ``text_end + 1``), where ``text_end`` is the number of
    non-padding tokens. An all-zero feature row is replaced by the learned
    ``object_mask_visual_embedding`` (so Language-for-Vision's zeroed regions become
    "masked objects"). Every text token also gets LN(feature of the last region).

    Text positions from ``text_end`` on (the padding) are shifted by the number of regions.
    VOLTA does that with an in-place write into a broadcast tensor, so with captions of
    different lengths in one batch every row gets the shift of the batch's *shortest*
    caption: tokens of a longer caption past that length are read at shifted positions.
    By default each row is shifted from its own length (what VOLTA computes for a batch of
    one, or of equal lengths). ``shift_from`` (B, 1) reproduces a given batch: pass, per
    row, the shortest caption length of the batch VOLTA would have run it in
    (``volta_shift_from``; docs/vlbert-positions.md).
    """

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__(config)
        self.coordinate_dim = int(config.v_coordinate_embeddings_dim)
        self.obj_downsample = nn.Sequential(
            nn.Dropout(0.0), nn.Linear(2 * config.v_feature_size, config.v_hidden_size), nn.ReLU()
        )
        if 4 * 2 * self.coordinate_dim != config.v_feature_size:
            raise ValueError(
                "VOLTA config: vl-bert needs 8 * v_coordinate_embeddings_dim == v_feature_size "
                f"(got {self.coordinate_dim} and {config.v_feature_size})"
            )
        self.object_linguistic_embeddings = nn.Embedding(1, config.hidden_size)
        self.object_mask_visual_embedding = nn.Embedding(1, config.v_feature_size)
        self.end_embedding = nn.Embedding(1, config.hidden_size)
        self.visual_ln_text = _layer_norm(config.hidden_size, config)
        self.visual_ln_object = _layer_norm(config.hidden_size, config)

    def forward(self, input_ids, image_feat, image_loc, token_type_ids, shift_from=None):
        batch, num_boxes, _ = image_feat.shape
        all_zero = (image_feat == 0).all(dim=-1, keepdim=True)  # (B, K, 1)
        image_feat = torch.where(all_zero, self.object_mask_visual_embedding.weight[0], image_feat)
        objects = self.obj_downsample(
            torch.cat([box_sinusoids(image_loc, self.coordinate_dim), image_feat], -1)
        )  # (B, K, V)

        object_words = self.object_linguistic_embeddings.weight[0].expand(batch, num_boxes, -1)
        is_last = torch.arange(num_boxes, device=image_feat.device) == num_boxes - 1  # (K,)
        object_words = torch.where(
            is_last[None, :, None], self.end_embedding.weight[0], object_words
        )  # (B, K, H)

        text_end = (input_ids != 0).sum(dim=1, keepdim=True)  # (B, 1)
        if shift_from is None:
            shift_from = text_end
        text_positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        text_positions = torch.where(
            text_positions >= shift_from, text_positions + num_boxes, text_positions
        )  # (B, T)
        object_positions = text_end + is_last.long()[None, :]  # (B, K)

        text = (
            self.word_embeddings(input_ids)
            + self.visual_ln_text(objects[:, -1])[:, None, :]
            + self.position_embeddings(text_positions)
            + self.token_type_embeddings(token_type_ids)
        )  # (B, T, H)
        vision = (
            object_words
            + self.visual_ln_object(objects)
            + self.position_embeddings(object_positions)
            + self.token_type_embeddings.weight[2]
        )  # (B, K, H)
        return self.LayerNorm(text), self.LayerNorm(vision)


def volta_shift_from(input_ids: torch.Tensor) -> torch.Tensor:
    """VOLTA's batch rule for VL-BERT: every row is shifted from the batch's shortest caption.

    ``input_ids`` (B, T) is one batch as VOLTA ran it (padding id 0); returns (B, 1).
    """
    text_end = (input_ids != 0).sum(dim=1, keepdim=True)  # (B, 1)
    return text_end.min().expand_as(text_end)  # (B, 1)


SHARED_EMBEDDINGS = {
    "uniter": UniterEmbeddings,
    "visualbert": VisualBertEmbeddings,
    "vl-bert": VLBertEmbeddings,
}
DUAL_EMBEDDINGS = {"vilbert": ViLBertImageEmbeddings, "lxmert": LxmertImageEmbeddings}


# ==================================================================================== #
#                                       Encoder                                        #
# ==================================================================================== #
def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, length, width = x.shape  # (B, L, h * d)
    return x.view(batch, length, heads, width // heads).transpose(1, 2)  # (B, h, L, d)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    batch, heads, length, size = x.shape  # (B, h, L, d)
    return x.transpose(1, 2).reshape(batch, length, heads * size)  # (B, L, h * d)


class GatedSelfAttention(nn.Module):
    """The attention blocks of one sublayer: text queries see tt/tv keys, vision vt/vv keys."""

    def __init__(self, config: VoltaConfig, n: int) -> None:
        super().__init__()
        sizes = config.sizes(n)
        self.tt, self.tv = n in config.tt_attn_sublayers, n in config.tv_attn_sublayers
        self.vt, self.vv = n in config.vt_attn_sublayers, n in config.vv_attn_sublayers
        self.text, self.vision = config.has_text(n), config.has_vision(n)
        self.heads, self.v_heads = sizes["heads"], sizes["v_heads"]
        for width, heads, what in (
            (sizes["attn"], self.heads, "text"),
            (sizes["v_attn"], self.v_heads, "vision"),
        ):
            if width % heads:
                raise ValueError(
                    f"VOLTA config sublayer {n}: {what} width {width} is not a multiple of {heads} heads"
                )
        if (self.tv or self.vt) and (sizes["attn"], self.heads) != (sizes["v_attn"], self.v_heads):
            raise ValueError(
                f"VOLTA config sublayer {n}: cross-modal attention needs equal text and vision widths"
            )
        if self.text:
            self.query = nn.Linear(config.hidden_size, sizes["attn"])
            self.key = nn.Linear(config.hidden_size, sizes["attn"])
            self.value = nn.Linear(config.hidden_size, sizes["attn"])
        if config.is_shared(n):  # the same modules under the v_ names, as in VOLTA's state dict
            self.v_query, self.v_key, self.v_value = self.query, self.key, self.value
        elif self.vision:
            self.v_query = nn.Linear(config.v_hidden_size, sizes["v_attn"])
            self.v_key = nn.Linear(config.v_hidden_size, sizes["v_attn"])
            self.v_value = nn.Linear(config.v_hidden_size, sizes["v_attn"])

    def forward(self, t, v, t_bias, v_bias, attentions: list | None = None, t_query=None, v_query=None):
        """Context vectors of each stream (None for a stream this sublayer does not update).

        ``t_bias``/``v_bias`` are additive key masks (B, 1, 1, L): 0 or -10000. With
        ``attentions`` (a list), a sublayer whose text queries see vision keys appends
        (probabilities (B, h, T, keys), number of text keys first): see ``TextAttention``.
        ``t_query``/``v_query``: the queries' hidden states when only some positions are
        wanted (B, M, H) / (B, K, V); keys and values always come from all of ``t`` and ``v``.
        """
        if self.text:
            tq = _split_heads(self.query(t if t_query is None else t_query), self.heads)  # (B, h, T or M, d)
            tk, tv = (_split_heads(f(t), self.heads) for f in (self.key, self.value))  # each (B, h, T, d)
        if self.vision:
            vq = _split_heads(self.v_query(v if v_query is None else v_query), self.v_heads)  # (B, h, 1+R or K, d)
            vk, vv = (_split_heads(f(v), self.v_heads) for f in (self.v_key, self.v_value))  # each (B, h, 1+R, d)
        text_keys = (tk, tv, t_bias) if self.text else None
        vision_keys = (vk, vv, v_bias) if self.vision else None
        t_context = v_context = None
        if self.text:  # text queries: tt keys, then tv keys
            keys = _chosen((self.tt, text_keys), (self.tv, vision_keys))
            if attentions is not None and self.tv:
                t_context, probs = _attend_with_probs(tq, *keys)  # (B, T, h * d), (B, h, T, keys)
                attentions.append((probs, tq.shape[2] if self.tt else 0))
            else:
                t_context = _attend(tq, *keys)  # (B, T, h * d)
        if self.vision:  # vision queries: vt keys, then vv keys
            v_context = _attend(vq, *_chosen((self.vt, text_keys), (self.vv, vision_keys)))  # (B, 1+R, h * d)
        return t_context, v_context


def _chosen(*sources) -> tuple[list, list, list]:
    """Keys, values and biases of the (used, (key, value, bias)) sources that are used, in order."""
    picked = [triple for used, triple in sources if used]
    return [k for k, _, _ in picked], [v for _, v, _ in picked], [b for _, _, b in picked]


def _attend(query, keys: list, values: list, biases: list) -> torch.Tensor:
    """One softmax over all the given keys (scaled by 1/sqrt(head size)), heads merged."""
    key = keys[0] if len(keys) == 1 else torch.cat(keys, dim=2)  # (B, h, L_keys, d)
    value = values[0] if len(values) == 1 else torch.cat(values, dim=2)  # (B, h, L_keys, d)
    bias = biases[0] if len(biases) == 1 else torch.cat(biases, dim=-1)  # (B, 1, 1, L_keys)
    return _merge_heads(
        F.scaled_dot_product_attention(query, key, value, attn_mask=bias.to(query.dtype))
    )  # (B, L_queries, h * d)


def _attend_with_probs(query, keys: list, values: list, biases: list) -> tuple[torch.Tensor, torch.Tensor]:
    """``_attend`` spelled out, returning the attention probabilities as well (B, h, L_q, L_keys)."""
    key = torch.cat(keys, dim=2)  # (B, h, L_keys, d)
    value = torch.cat(values, dim=2)  # (B, h, L_keys, d)
    bias = torch.cat(biases, dim=-1).to(query.dtype)  # (B, 1, 1, L_keys)
    probs = torch.softmax(query @ key.transpose(-1, -2) / query.shape[-1] ** 0.5 + bias, dim=-1)
    return _merge_heads(probs @ value), probs


class GatedResidual(nn.Module):
    """dense -> + input -> LayerNorm per stream (VOLTA's SelfOutput and Output).

    ``single_ln_sublayers`` (one LayerNorm over the concatenated streams) needs a shared
    sublayer, so it is the same LayerNorm applied to every token: nothing to do here.
    """

    def __init__(
        self, config: VoltaConfig, n: int, text_in: int, vision_in: int, v_norm: int
    ) -> None:
        super().__init__()
        self.text, self.vision = config.has_text(n), config.has_vision(n)
        if self.text:
            self.dense = nn.Linear(text_in, config.hidden_size)
            self.LayerNorm = _layer_norm(config.hidden_size, config)
        if config.is_shared(n):
            self.v_dense, self.v_LayerNorm = self.dense, self.LayerNorm
        elif self.vision:
            self.v_dense = nn.Linear(vision_in, config.v_hidden_size)
            self.v_LayerNorm = _layer_norm(v_norm, config)

    def forward(self, t_hidden, v_hidden, t_input, v_input):
        t_out = self.LayerNorm(self.dense(t_hidden) + t_input) if self.text else t_input  # (B, T, H)
        v_out = self.v_LayerNorm(self.v_dense(v_hidden) + v_input) if self.vision else v_input  # (B, 1+R, V)
        return t_out, v_out


class AttentionSublayer(nn.Module):
    def __init__(self, config: VoltaConfig, n: int) -> None:
        super().__init__()
        self.attention_self = GatedSelfAttention(config, n)
        width, v_width = config.sizes(n)["attn"], config.sizes(n)["v_attn"]
        self.attention_output = GatedResidual(config, n, width, v_width, v_width)

    def forward(self, t, v, t_bias, v_bias, attentions: list | None = None, t_at=None, v_at=None):
        """``t_at`` (B, M) / ``v_at`` (B, K): the only positions of that stream wanted from here
        on (its queries there; the stream comes out at those positions)."""
        t_query = None if t_at is None else gather_positions(t, t_at)  # (B, M, H)
        v_query = None if v_at is None else gather_positions(v, v_at)  # (B, K, V)
        t_context, v_context = self.attention_self(t, v, t_bias, v_bias, attentions, t_query, v_query)
        return self.attention_output(
            t_context, v_context, t if t_query is None else t_query, v if v_query is None else v_query
        )

    def joint(self, x: torch.Tensor, bias: torch.Tensor, attentions: list | None = None, text: int = 0,
              at: torch.Tensor | None = None) -> torch.Tensor:
        """The same sublayer on the concatenated streams (only for ``config.is_joint``).

        ``attentions``: append (probabilities of the first ``text`` queries, ``text``).
        ``at`` (B, N): queries only at these positions of [text; regions], which come out.
        """
        attention = self.attention_self
        queries = x if at is None else gather_positions(x, at)  # (B, T + 1+R or N, H)
        q = _split_heads(attention.query(queries), attention.heads)  # (B, h, T + 1+R or N, d)
        k, v = (_split_heads(f(x), attention.heads) for f in (attention.key, attention.value))  # (B, h, T + 1+R, d)
        if attentions is None:
            context = _merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype)))
        else:
            context, probs = _attend_with_probs(q, [k], [v], [bias])  # probs (B, h, T + 1+R, T + 1+R)
            attentions.append((probs[:, :, :text], text))
        return self.attention_output.LayerNorm(self.attention_output.dense(context) + queries)  # (B, T + 1+R or N, H)


class GatedIntermediate(nn.Module):
    def __init__(self, config: VoltaConfig, n: int) -> None:
        super().__init__()
        sizes = config.sizes(n)
        self.text, self.vision = config.has_text(n), config.has_vision(n)
        self.act = _activation(config.hidden_act)
        self.v_act = self.act if config.is_shared(n) else _activation(config.v_hidden_act)
        if self.text:
            self.dense = nn.Linear(config.hidden_size, sizes["inter"])
        if config.is_shared(n):
            self.v_dense = self.dense
        elif self.vision:
            self.v_dense = nn.Linear(config.v_hidden_size, sizes["v_inter"])

    def forward(self, t, v):
        return (
            self.act(self.dense(t)) if self.text else None,  # (B, T, intermediate)
            self.v_act(self.v_dense(v)) if self.vision else None,  # (B, 1+R, v_intermediate)
        )


class FeedForwardSublayer(nn.Module):
    def __init__(self, config: VoltaConfig, n: int) -> None:
        super().__init__()
        sizes = config.sizes(n)
        self.intermediate = GatedIntermediate(config, n)
        self.output = GatedResidual(config, n, sizes["inter"], sizes["v_inter"], config.v_hidden_size)

    def forward(self, t, v, t_bias=None, v_bias=None, attentions=None, t_at=None, v_at=None):
        if t_at is not None or v_at is not None:  # position-wise: take the wanted rows first
            t = t if t_at is None else gather_positions(t, t_at)
            v = v if v_at is None else gather_positions(v, v_at)
        t_hidden, v_hidden = self.intermediate(t, v)
        return self.output(t_hidden, v_hidden, t, v)

    def joint(self, x: torch.Tensor, bias: torch.Tensor | None = None, attentions=None, text: int = 0,
              at: torch.Tensor | None = None) -> torch.Tensor:
        x = x if at is None else gather_positions(x, at)  # (B, T + 1+R or N, H)
        hidden = self.intermediate.act(self.intermediate.dense(x))  # (B, T + 1+R, intermediate)
        return self.output.LayerNorm(self.output.dense(hidden) + x)  # (B, T + 1+R, H)


class Encoder(nn.Module):
    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            AttentionSublayer(config, n)
            if config.is_attention(n)
            else FeedForwardSublayer(config, n)
            for n in range(config.depth)
        )

        # single-stream models: run plain BERT over [text; regions] (same weights, same
        # result, fewer and larger matmuls than going stream by stream)
        self.joint = all(config.is_joint(n) for n in range(config.depth))
        # dual-stream models: the sublayers before the first cross-modal attention see one
        # modality alone, so each stream may run there on its distinct inputs only
        crossing = set(config.tv_attn_sublayers) | set(config.vt_attn_sublayers)
        self.unimodal_depth = min(crossing, default=config.depth)
        # after the last sublayer where a stream's states serve as keys, only the positions
        # read from it are needed: its queries there and every later sublayer run on those
        # alone (one layer of work of the twelve, most of the positions of the last one)
        text_keys = set(config.tt_attn_sublayers) | set(config.vt_attn_sublayers)
        vision_keys = set(config.vv_attn_sublayers) | set(config.tv_attn_sublayers)
        self.text_last_keys = max(text_keys, default=-1)
        self.vision_last_keys = max(vision_keys, default=-1)

    def forward(self, t, v, t_bias, v_bias, t_rows=None, v_rows=None, attentions: list | None = None,
                t_at=None, v_at=None):
        """``t_rows``/``v_rows`` (B,): when given, ``t`` and ``v`` hold distinct unimodal inputs
        only, and row b of the batch is text ``t_rows[b]`` with vision ``v_rows[b]``; the
        streams are expanded to the batch where they first meet. ``attentions``: a list to
        collect, per sublayer whose text queries see the regions, (text-query attention
        probabilities (B, h, T, keys), number of text keys first). ``t_at`` (B, M) /
        ``v_at`` (B, K): return that stream at these positions only (B, M, H) / (B, K, V),
        computing no more of it than they need."""
        if self.joint:
            x, bias = torch.cat([t, v], dim=1), torch.cat([t_bias, v_bias], dim=-1)  # (B, T + 1+R, H)
            at = None
            if t_at is not None or v_at is not None:
                t_at = _all_positions(t) if t_at is None else t_at
                v_at = _all_positions(v) if v_at is None else v_at
                at = torch.cat([t_at.to(x.device), t.shape[1] + v_at.to(x.device)], dim=1)  # (B, M + K)
            last = self.text_last_keys  # every attention sublayer is joint: the last of them
            if at is not None and last < 0:
                x = gather_positions(x, at)
            for n, sublayer in enumerate(self.layer):
                x = sublayer.joint(x, bias, attentions, t.shape[1], at if n == last else None)  # (B, L or M + K, H)
            split = t.shape[1] if at is None else t_at.shape[1]
            return x[:, :split], x[:, split:]  # (B, T or M, H), (B, 1+R or K, H)
        t_left, v_left = t_at, v_at  # still to be taken
        for n, sublayer in enumerate(self.layer):
            if n == self.unimodal_depth and t_rows is not None:
                t, t_bias, v, v_bias = t[t_rows], t_bias[t_rows], v[v_rows], v_bias[v_rows]  # to (B, ...)
                t_rows = v_rows = None
            t_here = t_left if n == self.text_last_keys and t_rows is None else None
            v_here = v_left if n == self.vision_last_keys and t_rows is None else None
            t_left, v_left = (None if t_here is not None else t_left), (None if v_here is not None else v_left)
            t, v = sublayer(t, v, t_bias, v_bias, attentions, t_here, v_here)  # (B or U_t, T or M, H), ...
        if t_rows is not None:
            t, v = t[t_rows], v[v_rows]
        t = t if t_left is None else gather_positions(t, t_left)  # (B, T or M, H)
        v = v if v_left is None else gather_positions(v, v_left)  # (B, 1+R or K, V)
        return t, v


def _all_positions(x: torch.Tensor) -> torch.Tensor:
    """(B, L) the positions 0..L-1 of every row of ``x`` (B, L, H)."""
    return torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)


_SAME_WIDTH_INT = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.uint8}


def _row_bits(x: torch.Tensor) -> torch.Tensor:
    """(B, N) integers holding each element's exact bits: rows compare equal when their inputs
    are bit for bit the same (so a float row is compared exactly, NaN included)."""
    flat = x.reshape(x.shape[0], -1)
    if flat.dtype == torch.bool:
        return flat.to(torch.uint8)
    if flat.is_floating_point():
        return flat.contiguous().view(_SAME_WIDTH_INT[flat.element_size()])
    return flat


def distinct_rows(*tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One row index per distinct input (rows of ``tensors`` compared whole, exactly), and
    for each of the B rows the number of its distinct input: (U,) and (B,), numbered in
    order of first appearance.

    Rows are grouped by a hash of their bits (one multiply-add pass; ``torch.unique`` over
    whole rows of 37 x 2048 features cost a tenth of a ViLBERT forward), then every row is
    checked against its group's first row; a collision falls back to comparing whole rows.
    """
    device = tensors[0].device
    bits = [_row_bits(x) for x in tensors]
    _, inverse = torch.unique(_row_hash(bits), return_inverse=True)  # (B,)
    first = _first_rows(inverse)
    if not all(torch.equal(x, x[first[inverse]]) for x in bits):  # two inputs with one hash
        _, inverse = torch.unique(torch.cat([x.long() for x in bits], dim=1), dim=0, return_inverse=True)
        first = _first_rows(inverse)
    order = torch.argsort(first)  # renumber the distinct inputs by first appearance
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=device)
    return first[order], rank[inverse]


def _row_hash(bits: list[torch.Tensor]) -> torch.Tensor:
    """(B,) a random linear hash of the rows' bits modulo 2**64: equal rows, equal hashes."""
    generator = torch.Generator().manual_seed(0)
    hashes = torch.zeros(bits[0].shape[0], dtype=torch.long, device=bits[0].device)
    for x in bits:
        weights = torch.randint(-(2**62), 2**62, (x.shape[1],), generator=generator).to(x.device)
        hashes += (x.long() * weights).sum(dim=1)
    return hashes


def _first_rows(inverse: torch.Tensor) -> torch.Tensor:
    """For group numbers (B,), the first row of each group: (U,)."""
    b = inverse.numel()
    first = torch.full((int(inverse.max()) + 1,), b, dtype=torch.long, device=inverse.device)
    return first.scatter_reduce(0, inverse, torch.arange(b, device=inverse.device), "amin")  # (U,)


class Pooler(nn.Module):
    """dense + activation on the first token of a stream ([CLS] / the global region)."""

    def __init__(self, width: int, size: int, act: str) -> None:
        super().__init__()
        self.dense = nn.Linear(width, size)
        self.activation = torch.relu if act == "relu" else torch.tanh

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden[:, 0]))  # (B, pooler_size)


class VoltaBert(nn.Module):
    """Embeddings + encoder + poolers (``bert.*`` in the checkpoint)."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.shared_embeddings = config.image_embeddings in SHARED_EMBEDDINGS
        if self.shared_embeddings:
            self.embeddings = SHARED_EMBEDDINGS[config.image_embeddings](config)
        else:
            self.embeddings = TextEmbeddings(config)
            self.v_embeddings = DUAL_EMBEDDINGS[config.image_embeddings](config)
        self.encoder = Encoder(config)
        # dual-stream: compute each distinct text-only and vision-only input once per forward
        # (rows of a phrase share the masked text, phrases of an image its regions, ...)
        self.share_unimodal = not self.shared_embeddings and not self.encoder.joint
        self.t_pooler = Pooler(config.hidden_size, config.pooler_size, config.fusion_act)
        if config.fusion_method != "text":
            if config.pooler_size != config.v_pooler_size:
                raise ValueError(
                    "VOLTA config: pooler_size must equal v_pooler_size to fuse the poolers"
                )
            self.v_pooler = Pooler(config.v_hidden_size, config.v_pooler_size, config.fusion_act)

    def forward(
        self, input_ids, image_feat, image_loc, token_type_ids, attention_mask, image_attention_mask,
        text_shift_from=None, attentions: list | None = None, t_at=None, v_at=None,
    ):
        """``t_at`` (B, M) / ``v_at`` (B, K): return those positions of the stream only."""
        t_rows = v_rows = None
        # attention is read row by row (a separate, rarely taken pass): no sharing there
        if self.share_unimodal and input_ids.shape[0] > 1 and attentions is None:
            t_first, t_rows = distinct_rows(input_ids, token_type_ids, attention_mask)  # (U_t,), (B,)
            v_first, v_rows = distinct_rows(image_feat, image_loc, image_attention_mask)  # (U_v,), (B,)
            input_ids, token_type_ids, attention_mask = (x[t_first] for x in (input_ids, token_type_ids, attention_mask))
            image_feat, image_loc, image_attention_mask = (x[v_first] for x in (image_feat, image_loc, image_attention_mask))
        if text_shift_from is not None:
            if not isinstance(self.embeddings, VLBertEmbeddings):
                raise ValueError("text_shift_from applies to VL-BERT only (its text positions depend on the batch)")
            t, v = self.embeddings(input_ids, image_feat, image_loc, token_type_ids, shift_from=text_shift_from)
        elif self.shared_embeddings:
            t, v = self.embeddings(input_ids, image_feat, image_loc, token_type_ids)  # (B, T, H), (B, 1+R, H)
        else:
            t, v = (
                self.embeddings(input_ids, token_type_ids),
                self.v_embeddings(image_feat, image_loc),
            )  # (B, T, H), (B, 1+R, V)
        dtype = t.dtype
        t_bias = (1.0 - attention_mask.to(dtype))[:, None, None, :] * -10000.0  # (B, 1, 1, T)
        v_bias = (1.0 - image_attention_mask.to(dtype))[:, None, None, :] * -10000.0  # (B, 1, 1, 1+R)
        return self.encoder(t, v, t_bias, v_bias, t_rows, v_rows, attentions, t_at, v_at)  # (B, T or M, H), ...


class PredictionTransform(nn.Module):
    def __init__(self, width: int, act: str, config: VoltaConfig, layer_norm: bool = True) -> None:
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.act = _activation(act)
        if layer_norm:
            self.LayerNorm = _layer_norm(width, config)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.act(self.dense(hidden))  # (B, L, width)
        return self.LayerNorm(hidden) if hasattr(self, "LayerNorm") else hidden


class MLMHead(nn.Module):
    """transform -> decoder tied to the word embeddings + its own bias."""

    def __init__(self, config: VoltaConfig, word_embeddings: nn.Parameter) -> None:
        super().__init__()
        self.transform = PredictionTransform(config.hidden_size, config.hidden_act, config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden)) + self.bias  # (B, M, vocab)


class RegionHead(nn.Module):
    """transform (VOLTA uses the *text* activation here) -> one decoder per visual target."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.transform = PredictionTransform(
            config.v_hidden_size, config.hidden_act, config, layer_norm=config.image_head_ln
        )
        self.decoder_dict = nn.ModuleDict(
            {
                key: nn.Linear(config.v_hidden_size, size)
                for key, size in config.visual_targets.items()
            }
        )

    def forward(self, hidden: torch.Tensor, target: str = "0") -> torch.Tensor:
        return self.decoder_dict[target](self.transform(hidden))  # (B, K, classes of target)


class PretrainingHeads(nn.Module):
    def __init__(self, config: VoltaConfig, word_embeddings: nn.Parameter) -> None:
        super().__init__()
        self.predictions = MLMHead(config, word_embeddings)
        self.bi_seq_relationship = nn.Linear(config.pooler_size, config.itm_dim)
        self.imagePredictions = RegionHead(config)


@dataclass
class VoltaOutput:
    text_logits: torch.Tensor  # (B, T, vocab) or (B, M, vocab) at the asked positions
    region_logits: (
        torch.Tensor | None
    )  # (B, 1+R, classes) or (B, K, classes); None without head "0"
    itm_logits: torch.Tensor  # (B, itm_dim)


def _at(hidden: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    """All rows (B, L, H) when ``positions`` is None, else (B, M, H) at the positions."""
    return hidden if positions is None else gather_positions(hidden, positions)


class VoltaForPretraining(nn.Module):
    """VOLTA's ``BertForVLPreTraining`` for inference: same state-dict names, same outputs."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = VoltaBert(config)
        self.cls = PretrainingHeads(config, self.bert.embeddings.word_embeddings.weight)

    def tie_weights(self) -> None:
        """The MLM decoder is the word-embedding matrix (re-tied after loading by assignment)."""
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        image_feat: torch.Tensor,
        image_loc: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        text_positions: torch.Tensor | None = None,
        region_positions: torch.Tensor | None = None,
        text_shift_from: torch.Tensor | None = None,
        attentions: list | None = None,
    ) -> VoltaOutput:
        """VOLTA layout: ``image_feat`` (B, 1+R, D) with the global feature first, 5-d boxes.

        ``text_positions`` (B, M) / ``region_positions`` (B, K, indices into the 1+R rows)
        restrict the MLM and region heads to those positions (the 30,522-way decoder is
        most of the cost of a forward pass otherwise). ``text_shift_from`` (B, 1), VL-BERT
        only: where each row's text positions start to be shifted (see ``VLBertEmbeddings``).
        ``attentions`` (a list) collects the text queries' attention (``Encoder.forward``);
        without it the fused attention kernel runs and nothing is kept.
        """
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if image_attention_mask is None:
            image_attention_mask = torch.ones(
                image_feat.shape[:2], dtype=torch.long, device=image_feat.device
            )
        t_at = v_at = None
        if attentions is None:  # the encoder's last layer only where read: the first row (poolers), the heads'
            first = torch.zeros(input_ids.shape[0], 1, dtype=torch.long, device=input_ids.device)  # (B, 1)
            if text_positions is not None:
                t_at = torch.cat([first, text_positions.to(first.device, torch.long)], dim=1)  # (B, 1 + M)
            if region_positions is not None:
                v_at = torch.cat([first, region_positions.to(first.device, torch.long)], dim=1)  # (B, 1 + K)
        t, v = self.bert(
            input_ids, image_feat, image_loc, token_type_ids, attention_mask, image_attention_mask,
            text_shift_from, attentions, t_at, v_at,
        )  # (B, T or 1 + M, H), (B, 1+R or 1 + K, V)
        pooled = self.bert.t_pooler(t)  # (B, pooler_size)
        if self.config.fusion_method == "mul":
            pooled = pooled * self.bert.v_pooler(v)
        elif self.config.fusion_method == "sum":
            pooled = pooled + self.bert.v_pooler(v)
        t = t[:, 1:] if t_at is not None else _at(t, text_positions)  # (B, T or M, H)
        v = v[:, 1:] if v_at is not None else _at(v, region_positions)  # (B, 1+R or K, V)
        region_logits = None
        if "0" in self.cls.imagePredictions.decoder_dict:
            region_logits = self.cls.imagePredictions(v)
        return VoltaOutput(
            text_logits=self.cls.predictions(t),
            region_logits=region_logits,
            itm_logits=self.cls.bi_seq_relationship(pooled),
        )


