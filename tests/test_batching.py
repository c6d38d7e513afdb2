import warnings
from dataclasses import replace

import numpy as np
import pytest
from tiny import TinyVL, make_example

from vlexplore.batching import in_length_buckets, mapped_ahead, windows
from vlexplore.engine import diagnose_dataset
from vlexplore.records import ExampleSet

SCORES = ("mlm_bits_none", "mlm_bits_object", "mlm_bits_all", "mrc_kl_bits_none", "mrc_kl_bits_phrase", "mrc_kl_bits_all")


def test_buckets_group_by_length_and_answer_in_input_order():
    lengths = [5, 1, 4, 1, 5, 2, 3, 2, 1, 4, 5, 3]
    batches = []

    def run(batch):
        batches.append(batch)
        return [f"answer {i}" for i in batch]

    items = list(range(len(lengths)))
    out = in_length_buckets(items, run, batch_size=3, key=lambda i: lengths[i])
    assert out == [f"answer {i}" for i in items]
    assert [[lengths[i] for i in batch] for batch in batches] == [[1, 1, 1], [2, 2, 3], [3, 4, 4], [5, 5, 5]]
    assert batches[0] == [1, 3, 8]  # equal lengths keep their input order


def test_without_a_key_batches_are_consecutive():
    batches = []
    out = in_length_buckets(list(range(7)), lambda b: batches.append(b) or b, batch_size=3)
    assert out == list(range(7)) and batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_windows_are_read_one_at_a_time():
    read = []

    def items():
        for i in range(100):
            read.append(i)
            yield i

    stream = windows(items(), 6)
    assert next(stream) == list(range(6))
    assert len(read) == 6  # one window, not the whole stream
    assert [len(w) for w in stream] == [6] * 15 + [4]


def test_work_ahead_answers_in_order_on_another_thread_one_item_ahead():
    import threading

    read, threads = [], set()

    def items():
        for i in range(10):
            read.append(i)
            yield i

    def work(i):
        threads.add(threading.get_ident())
        return i * i

    stream = mapped_ahead(work, items())
    assert next(stream) == 0
    assert len(read) == 2  # the item after the one answered is being worked on, no more
    assert list(stream) == [i * i for i in range(1, 10)]
    assert threads and threading.get_ident() not in threads
    assert list(mapped_ahead(work, iter([]))) == []


def test_work_ahead_passes_errors_on_at_their_item():
    def work(i):
        if i == 3:
            raise ValueError("item 3 is bad")
        return i

    stream = mapped_ahead(work, range(6))
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="item 3 is bad"):
        next(stream)


def test_buckets_refuse_bad_sizes_and_short_answers():
    with pytest.raises(ValueError, match="batch_size"):
        in_length_buckets([1], lambda b: b, batch_size=0)
    with pytest.raises(ValueError, match="window size"):
        next(windows([1], 0))
    with pytest.raises(ValueError, match="1 results for a batch of 2"):
        in_length_buckets([1, 2], lambda b: b[:1], batch_size=2)


def _varied_examples() -> list:
    """Captions of several lengths and images with 3 to 6 regions, in mixed order."""
    out = []
    for seed in range(9):
        words = " ".join(["very"] * (seed % 4))
        caption = f"A tall man {words} walks a small dog in the park ."
        example = make_example(seed, caption=caption)
        keep = 6 - seed % 3 if seed % 2 else 6  # the man's regions (0, 1) always stay
        regions = example.regions
        example.regions = replace(
            regions, boxes=regions.boxes[:keep], features=regions.features[:keep], cls_prob=regions.cls_prob[:keep]
        )
        out.append(example)
    return out


def _run(model, dataset, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(diagnose_dataset(model, dataset, progress=False, **options))


def _assert_same_results(bucketed, plain):
    assert [(r.example_id, r.phrase_index) for r in bucketed] == [(r.example_id, r.phrase_index) for r in plain]
    for a, b in zip(bucketed, plain, strict=True):
        got = np.array([getattr(a, s) for s in SCORES])
        want = np.array([getattr(b, s) for s in SCORES])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)
        assert (a.target_region, a.n_tokens, a.detector_top_classes) == (b.target_region, b.n_tokens, b.detector_top_classes)


def test_bucketed_run_equals_unbucketed_in_dataset_order():
    model = TinyVL()
    dataset = ExampleSet("varied", _varied_examples())
    shapes = []
    forward = model.forward

    def recording(batch):
        shapes.append((batch.size, batch.input_ids.shape[1], batch.visual.features.shape[1]))
        return forward(batch)

    model.forward = recording
    plain = _run(model, dataset, batch_size=4, length_buckets=False)
    plain_shapes, shapes[:] = list(shapes), []
    bucketed = _run(model, dataset, batch_size=4)
    assert len(bucketed) == 18
    _assert_same_results(bucketed, plain)
    padded = sum(b * (t + n) for b, t, n in shapes)
    assert padded < sum(b * (t + n) for b, t, n in plain_shapes)  # buckets pad less


def test_bucketed_run_of_the_builtin_model_equals_unbucketed():
    from vlexplore import registry

    model = registry.load_model("demo")
    dataset = registry.load_dataset("demo")
    plain = _run(model, dataset, limit=40, length_buckets=False)
    _assert_same_results(_run(model, dataset, limit=40), plain)


def test_a_run_that_prepares_ahead_equals_one_that_does_not():
    """The path a GPU run takes (phrases prepared on a second thread), forced on the CPU."""
    model = TinyVL()
    dataset = ExampleSet("varied", _varied_examples() * 3)
    plain = _run(model, dataset, batch_size=2, prefetch=False)
    ahead = _run(model, dataset, batch_size=2, prefetch=True)
    assert len(plain) == 54
    _assert_same_results(ahead, plain)


def test_a_generator_of_examples_runs_with_a_limit():
    model = TinyVL()
    examples = (make_example(seed) for seed in range(50))
    results = _run(model, examples, limit=7, batch_size=3)
    assert [(r.example_id, r.phrase_index) for r in results] == [
        (f"ex{i // 2}", i % 2) for i in range(7)
    ]


def test_streamed_csv_is_the_frame_csv(tmp_path):
    from vlexplore.diagnostics import results_frame, write_results_csv

    model = TinyVL()
    results = _run(model, ExampleSet("varied", _varied_examples()))
    results[0].mrc_kl_bits_all = float("nan")  # an empty cell, as pandas writes it
    streamed = list(write_results_csv(iter(results), tmp_path / "phrases.csv"))
    assert streamed == results
    assert (tmp_path / "phrases.csv").read_text() == results_frame(results).to_csv(index=False)
    assert not list(write_results_csv(iter([]), tmp_path / "none.csv"))
    assert not (tmp_path / "none.csv").exists()  # nothing scored, no file


def test_running_summary_equals_the_whole_list():
    from vlexplore.diagnostics import RunningSummary, label_agreement, summarize

    results = _run(TinyVL(), ExampleSet("varied", _varied_examples()))
    results[1].mrc_kl_bits_none = float("nan")  # a phrase without a target region
    running = RunningSummary()
    for result in results:
        running.add(result)
    summary = running.summary()
    assert summary == summarize(results) and running.label_agreement() == label_agreement(results)
    assert summary["n"] == 18 and summary["n_lang4vis"] == 17
    want = np.mean([r.mlm_bits_object for r in results])
    assert summary["vis4lang"]["object"] == pytest.approx(want, rel=1e-12)
    want = np.mean([r.mrc_kl_bits_all for i, r in enumerate(results) if i != 1])
    assert summary["lang4vis"]["all"] == pytest.approx(want, rel=1e-12)


def test_a_dataset_run_reads_examples_as_it_goes():
    read = []

    def examples():
        for seed in range(200):
            read.append(seed)
            yield make_example(seed)

    stream = diagnose_dataset(TinyVL(), examples(), batch_size=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        next(stream)
    assert len(read) <= 9  # one window: 8 batches of 2 phrases, 2 phrases per example
