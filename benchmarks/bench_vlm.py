"""Time the generative-VLM backend at real sizes (random weights, nothing downloaded).

Two models are built from their published architecture settings with random weights:
SmolVLM-256M-Instruct (Idefics3: SigLIP-base/16 at 512 px, pixel shuffle 4, SmolLM2-135M) and
llava-interleave-qwen-0.5b (LLaVA: SigLIP-so400m/14 at 384 px, Qwen2-0.5B). The tokenizer
is a small byte-level BPE trained on the caption (the real ones give about as many tokens).

For each, on a 500 x 375 picture and a 16-word caption with two phrases, it measures:

- ``encode``: processing + vision tower + projector of the picture (once per picture);
- ``phrase``: one phrase's three conditions (None / Object / All) in one forward of the
  language model, picture already encoded (what every further phrase of a picture costs);
- ``next phrase``: a further phrase of the same caption, whose None and All rows are the
  ones already computed (only its Object row runs);
- ``first phrase``: the same with an empty image cache (encode + phrase);
- ``naive``: the baseline the cache and batching replace, three separate calls of the
  model's own forward (processor + vision + language model each time) for the same phrase.

    HF_HUB_OFFLINE=1 python benchmarks/bench_vlm.py [--repeats 3] [--threads 2] [--splitting]

Prints a markdown table (seconds, the best of the repeats after a warm-up).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import CAPTION, pixel_example  # noqa: E402
from timing import run_times  # noqa: E402

from vlexplore.engine import diagnose  # noqa: E402
from vlexplore.models.vlm.idefics3 import Idefics3Backend  # noqa: E402
from vlexplore.models.vlm.llava import LlavaBackend  # noqa: E402
from vlexplore.models.vlm.prompt import render_prompt  # noqa: E402


def bpe_tokenizer(special: list[str], vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<pad>", "<s>", "</s>", *special],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([CAPTION, "User: Assistant: Describe the image."] * 20, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
        eos_token="</s>", additional_special_tokens=special,
    )


SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}"
)
LLAVA_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>\n{% endfor %}"
)


def build_smolvlm(splitting: bool, device: torch.device) -> Idefics3Backend:
    import transformers

    special = ["<|im_start|>", "<end_of_utterance>", "<image>", "<fake_token_around_image>", "<global-img>"]
    special += [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    tokenizer = bpe_tokenizer(special)
    config = transformers.Idefics3Config(
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                           num_attention_heads=12, image_size=512, patch_size=16),
        text_config=dict(model_type="llama", hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, vocab_size=49280,
                         max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True),
        scale_factor=4,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.Idefics3ForConditionalGeneration(config).eval()
    image_processor = transformers.Idefics3ImageProcessorPil(
        size={"longest_edge": 2048}, max_image_size={"longest_edge": 512}, do_image_splitting=splitting
    )
    processor = transformers.Idefics3Processor(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_len=64, chat_template=SMOLVLM_TEMPLATE
    )
    label = "SmolVLM-256M" + (" (image splitting)" if splitting else "")
    return Idefics3Backend(model, processor, f"{label} (random)", device)


def build_llava_05b(device: torch.device) -> LlavaBackend:
    import transformers

    tokenizer = bpe_tokenizer(["<|im_start|>", "<|im_end|>", "<image>"])
    config = transformers.LlavaConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304,
                           num_hidden_layers=26, num_attention_heads=16, image_size=384, patch_size=14),
        text_config=dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, vocab_size=152000,
                         max_position_embeddings=32768, tie_word_embeddings=True),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.LlavaForConditionalGeneration(config).eval()
    image_processor = transformers.LlavaImageProcessorPil(
        size={"height": 384, "width": 384}, do_center_crop=False, do_pad=False,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    processor = transformers.LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="full",
        num_additional_image_tokens=0, chat_template=LLAVA_TEMPLATE,
    )
    return LlavaBackend(model, processor, "llava-interleave-qwen-0.5b (random)", device)


def best_seconds(function, repeats: int) -> float:
    """The fastest of ``repeats`` runs after a warm-up: on a machine shared with other jobs,
    the run they disturbed least (a median mostly measures the neighbours)."""
    return min(run_times(function, repeats))


def naive(model, example) -> None:
    """Three calls of the model's own forward on the full prompt (no cache, no batching)."""
    text, _ = render_prompt(model.processor, example.caption)
    for _ in range(3):
        inputs = model.processor(text=[text], images=[example.image], add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            model.model(**inputs, use_cache=False)


def matmul_gflops() -> float:
    """This machine's fp32 matmul rate right now (best of 5 runs of 2048^3), for scale."""
    a = torch.randn(2048, 2048)
    return 2 * 2048**3 / min(run_times(lambda: a @ a, 5, warm_up=False)) / 1e9


def phrase_gflop(model, example) -> float:
    """GFLOP of one phrase's three rows through the language model (picture encoded)."""
    from torch.utils.flop_counter import FlopCounterMode

    model._rows.clear()
    with FlopCounterMode(display=False) as counter:
        diagnose(model, example, 0)
    return counter.get_total_flops() / 1e9


def measure(model, repeats: int, naive_baseline: bool = True) -> dict:
    example = pixel_example(0)
    peak = matmul_gflops()
    load = os.getloadavg()[0]
    parameters = sum(p.numel() for p in model.model.parameters())
    encoding = model.encode_image(example.image)
    tokens = len(encoding.layout)
    text_tokens = len(model.encode_caption(example.caption, example.phrases[0]).input_ids) - 1 + tokens

    def cold_encode():
        model.clear_cache()
        model.encode_image(example.image)

    def phrase_rows():  # picture encoded, no row computed yet: three rows
        model._rows.clear()
        diagnose(model, example, 0)

    def next_phrase():  # another phrase of the same caption: its None and All rows are reused
        model._rows.clear()
        diagnose(model, example, 0)
        start = time.perf_counter()
        diagnose(model, example, 1)
        return time.perf_counter() - start

    def cold_phrase():
        model.clear_cache()
        diagnose(model, example, 0)

    gflop = phrase_gflop(model, example)
    encode = best_seconds(cold_encode, repeats)
    phrase = best_seconds(phrase_rows, repeats)
    further = min(next_phrase() for _ in range(repeats))
    first = best_seconds(cold_phrase, repeats)
    baseline = best_seconds(lambda: naive(model, example), max(1, repeats // 2)) if naive_baseline else math.nan
    return {
        "model": model.name,
        "parameters": f"{parameters / 1e6:.0f} M",
        "image tokens": tokens,
        "sequence": text_tokens,
        "encode": encode,
        "phrase": phrase,
        "next phrase": further,
        "first phrase": first,
        "naive": baseline,
        "gflop": gflop,
        "peak": peak,
        "load": f"{load:.0f}-{os.getloadavg()[0]:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="smolvlm,smolvlm-split,llava", help="comma-separated subset")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline (slow for big models)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    builders = {
        "smolvlm": lambda: build_smolvlm(False, device),
        "smolvlm-split": lambda: build_smolvlm(True, device),
        "llava": lambda: build_llava_05b(device),
    }
    rows = []
    for key in args.models.split(","):
        model = builders[key]()
        rows.append(measure(model, args.repeats, naive_baseline=not args.no_naive))
        print(rows[-1], file=sys.stderr, flush=True)
        del model
    print(f"torch {torch.__version__}, {args.threads} threads, best of {args.repeats} after a warm-up\n")
    print("| model | parameters | image tokens | sequence | encode picture | phrase (picture cached) "
          "| next phrase, same caption | first phrase (cold) | naive: 3 own forwards | naive / first phrase "
          "| GFLOP per phrase | GFLOP/s | matmul peak GFLOP/s | load average |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['parameters']} | {r['image tokens']} | {r['sequence']} | {r['encode']:.2f} s "
              f"| {r['phrase']:.2f} s | {r['next phrase']:.2f} s | {r['first phrase']:.2f} s | {r['naive']:.2f} s "
              f"| {r['naive'] / r['first phrase']:.1f}x | {r['gflop']:.0f} | {r['gflop'] / r['phrase']:.0f} "
              f"| {r['peak']:.0f} | {r['load']} |")


if __name__ == "__main__":
    main()
