"""app.py with a bert-base-size model registered, for `bench_app.py --spinner`: VOLTA UNITER at
full size (12 layers, 768 wide, 114 M parameters) with random weights as "uniter-random", and
synthetic Flickr30k-shaped examples (36 regions of 2048-d features) as "regions36". Nothing is
downloaded. Benchmark scaffolding, not part of the product."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from vlexplore import registry  # noqa: E402


def load_uniter_random(name: str = "uniter-random", **options):
    import torch

    from vlexplore.models.volta import VoltaBackend, VoltaConfig, VoltaForPretraining

    torch.manual_seed(0)
    network = VoltaForPretraining(VoltaConfig.for_arch("uniter")).eval()
    return VoltaBackend(network, "uniter", source="random weights")


def load_regions(name: str = "regions36", **options):
    from synthetic import region_example

    from vlexplore.records import ExampleSet

    return ExampleSet("regions36", [region_example(i) for i in range(4)])


registry.register_model("uniter-random", "app_base_model:load_uniter_random", "UNITER, random weights")
registry.register_dataset("regions36", "app_base_model:load_regions", "synthetic region examples")
if __name__ == "__main__":  # the registry imports this file for its loaders: run the app only as the script
    runpy.run_path(str(HERE.parent / "app.py"), run_name="__main__")
