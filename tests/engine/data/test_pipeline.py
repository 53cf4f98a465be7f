"""prepare(): the batched pipelines a run trains and evaluates on."""

import dataclasses
import re

import numpy as np
import pytest

from engine.data import DataSpec, prepare


def serialized_ops(dataset) -> str:
    """The tf.data graph of ``dataset`` as text, to see which transformations it holds."""
    return dataset._as_serialized_graph().numpy().decode("latin-1")


def batches(dataset, count=None):
    return [(np.asarray(images), np.asarray(labels))
            for images, labels in (dataset.take(count) if count else dataset)]


@pytest.fixture(scope="module")
def digits():
    return prepare(DataSpec(dataset="digits", batch_size=32), (32, 32, 1))


def test_digits_pipelines_are_normalized_batches_at_the_recipe_size(digits):
    train = batches(digits.pipelines.train)
    assert len(train) == 41 and sum(len(labels) for _, labels in train) == 1293
    images = np.concatenate([images for images, _ in train])
    assert images.shape[1:] == (32, 32, 1) and images.dtype == np.float32
    assert abs(images.mean()) < 1e-3 and abs(images.std() - 1) < 1e-3  # fitted on train
    test_labels = np.concatenate([labels for _, labels in batches(digits.pipelines.test)])
    assert len(test_labels) == 360 and set(test_labels) == set(range(10))


def test_decoded_images_are_cached_before_augmentation_then_shuffled_and_prefetched(digits):
    ops = serialized_ops(digits.pipelines.train)
    for op in ("CacheDataset", "ShuffleDataset", "ParallelMapDataset", "PrefetchDataset"):
        assert op in ops
    assert "ShuffleDataset" not in serialized_ops(digits.pipelines.test)


def test_a_cached_split_is_shuffled_whole_and_one_decoded_anew_within_a_memory_budget():
    import tensorflow as tf

    from engine.data.pipeline import SHUFFLE_BUDGET_BYTES, UNKNOWN_IMAGE_BYTES, shuffle_buffer

    def images(shape, count):  # stored (image, label) pairs
        return tf.data.Dataset.from_tensors((tf.zeros(shape, tf.uint8), 0)).repeat(count)

    mnist = images((28, 28, 1), 54_000)  # 42 MB: cached, so the buffer holds references
    assert shuffle_buffer(mnist, 54_000) == 54_000
    imagenet_crops = images((256, 256, 3), 1_281_167)  # 252 GB: decoded every epoch
    assert shuffle_buffer(imagenet_crops, 1_281_167) == SHUFFLE_BUDGET_BYTES // (256 * 256 * 3)
    whole_images = tf.data.Dataset.from_generator(
        lambda: iter(()), output_signature=(tf.TensorSpec((None, None, 3), tf.uint8),
                                            tf.TensorSpec((), tf.int32)))
    assert shuffle_buffer(whole_images, 100_000) == SHUFFLE_BUDGET_BYTES // UNKNOWN_IMAGE_BYTES
    assert shuffle_buffer(whole_images, 100) == 100


def uncached_colour_folder(root, per_class, monkeypatch) -> str:
    """``folder:ROOT`` of two classes of ``per_class`` 8x8 PNGs, each of its own colour,
    with the cache budget at 0: decoded anew every epoch, as a large folder is."""
    from PIL import Image

    from engine.data import pipeline

    for label in range(2):
        (root / f"class{label}").mkdir(parents=True)
        for index in range(per_class):
            Image.new("RGB", (8, 8), (index * 15, label * 200, 9)).save(
                root / f"class{label}" / f"{index:02d}.png")
    monkeypatch.setattr(pipeline, "CACHE_BUDGET_BYTES", 0)
    return f"folder:{root}"


def test_a_folder_decoded_every_epoch_trains_in_a_new_order_each_epoch(tmp_path, monkeypatch):
    # Too large to cache, with room to buffer a single decoded image: the buffer alone
    # would give the folder's fixed order every epoch.
    from engine.data import pipeline

    dataset = uncached_colour_folder(tmp_path / "colours", 16, monkeypatch)
    monkeypatch.setattr(pipeline, "SHUFFLE_BUDGET_BYTES", 1)
    spec = DataSpec(dataset=dataset, batch_size=4, validation_fraction=0, deterministic=True)
    prepared = prepare(spec, (8, 8, 3))
    assert "CacheDataset" not in serialized_ops(prepared.pipelines.train)

    def epoch(dataset):  # each image by its normalized first pixel
        return [tuple(np.round(image[0, 0], 4)) for images, _ in batches(dataset)
                for image in images]

    fixed = epoch(pipeline._evaluation(prepared.stored_train, prepared.augmentation,
                                       prepared.preprocessing, spec))
    first, second = epoch(prepared.pipelines.train), epoch(prepared.pipelines.train)
    assert sorted(first) == sorted(second) == sorted(fixed) and len(set(fixed)) == 24  # 32 - test
    assert len({tuple(fixed), tuple(first), tuple(second)}) == 3
    assert epoch(prepared.training_pipeline(spec.seed)) == first  # built anew: its first pass
    # A resumed run makes and drops an iterator per epoch it skips (engine.loop.fit): its
    # next epoch must be the uninterrupted run's, as for a cached split.
    resumed = prepared.training_pipeline(spec.seed)
    iter(resumed)
    assert epoch(resumed) == second


@pytest.mark.parametrize("change", ["rewritten", "deleted", "made_a_folder"])
def test_a_folder_file_changed_during_the_run_is_named_not_a_traceback(tmp_path, monkeypatch,
                                                                       change):
    # Checked when the folder was opened, decoded every epoch: a file rewritten or deleted
    # since then failed the run in TensorFlow's traceback, as a bug would, and then in a
    # sentence that gave TensorFlow's reason but not which file.
    import keras

    from engine.data import file_checks, named_data_errors
    from layers import RunFailure

    # The files written here count as changed before the check, not within its margin.
    monkeypatch.setattr(file_checks, "SETTLING_SECONDS", 0.0)
    uncached_colour_folder(tmp_path / "folder" / "train", 5, monkeypatch)
    uncached_colour_folder(tmp_path / "folder" / "test", 1, monkeypatch)
    prepared = prepare(DataSpec(dataset=f"folder:{tmp_path / 'folder'}", batch_size=4,
                                validation_fraction=0), (8, 8, 3))
    file = tmp_path / "folder" / "train" / "class1" / "03.png"
    if change == "rewritten":
        file.write_bytes(b"not an image any more")
    else:
        file.unlink()
    if change == "made_a_folder":
        file.mkdir()
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    detail = {"rewritten": "Unknown image file format", "deleted": "No such file or directory",
              "made_a_folder": "Is a directory"}[change]
    with pytest.raises(RunFailure, match=rf"^A file of folder:.* cannot be read or decoded any "
                                         rf"more \(.*{detail}.*\): the folder changed after the "
                                         rf"run checked it \(the files changed since, the latest "
                                         rf"first: {re.escape(str(file))}\)\. Restore the file "
                                         r"and run the command again \(without it the split "
                                         r"changes, and the run starts afresh with --overwrite "
                                         r"or another --model_dir\)\.$"):
        with named_data_errors(prepared.source):
            model.fit(prepared.pipelines.train, epochs=1, verbose=0)
    # Only the folder's decoding ops: not a path that merely holds the scope's name.
    import tensorflow as tf

    with pytest.raises(tf.errors.PermissionDeniedError):
        with named_data_errors(prepared.source):
            raise tf.errors.PermissionDeniedError(
                None, None, "/runs/folder_image/logs/events.out: Permission denied")


def test_image_size_overrides_the_recipe_input():
    prepared = prepare(DataSpec(dataset="digits", image_size=24), (32, 32, 1))
    assert prepared.input_shape == (24, 24, 1) == prepared.preprocessing.input_shape
    images, _ = batches(prepared.pipelines.validation, 1)[0]
    assert images.shape[1:] == (24, 24, 1)


def test_data_spec_rejects_unknown_values_with_the_accepted_ones():
    with pytest.raises(ValueError, match=r"Unknown augmentation 'mixup'; accepted: none, cifar"):
        DataSpec(augmentation="mixup")
    with pytest.raises(ValueError, match=r"Unknown tta '12crop'; accepted: none, flip, 10crop"):
        DataSpec(tta="12crop")
    with pytest.raises(ValueError, match=r"shard_index must be in \[0, 2\), got 2"):
        DataSpec(num_shards=2, shard_index=2)
    with pytest.raises(ValueError, match="image_size must be a positive number of pixels, got 0"):
        DataSpec(image_size=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        DataSpec(seed=-1)


def test_inputs_that_are_not_images_are_rejected():
    with pytest.raises(ValueError, match="takes 48-channel input; image datasets give 1"):
        prepare(DataSpec(), (19, 19, 48))


def test_augmentation_is_reproducible_from_the_seed_and_new_every_epoch():
    spec = DataSpec(dataset="digits", augmentation="cifar", deterministic=True, seed=3)
    first = prepare(spec, (32, 32, 1)).pipelines.train
    epoch_one, epoch_two = batches(first, 3), batches(first, 3)
    again = batches(prepare(spec, (32, 32, 1)).pipelines.train, 3)
    other_seed = batches(prepare(dataclasses.replace(spec, seed=4), (32, 32, 1)).pipelines.train, 3)
    for (images, labels), (same_images, same_labels) in zip(epoch_one, again):
        np.testing.assert_array_equal(images, same_images)
        np.testing.assert_array_equal(labels, same_labels)
    assert not np.array_equal(epoch_one[0][0], epoch_two[0][0])
    assert not np.array_equal(epoch_one[0][0], other_seed[0][0])


@pytest.mark.parametrize("augmentation", ["shift", "cifar"])
def test_an_images_training_view_does_not_depend_on_the_batch_size(augmentation):
    # A search prepares its data once and rebatches it to each trial's batch size; the
    # trial must see the views a run at that batch size sees, augmented a batch at a time.
    from engine.tuning.hypermodel import rebatched

    spec = DataSpec(dataset="digits", augmentation=augmentation, deterministic=True,
                    batch_size=128)
    prepared = prepare(spec, (32, 32, 1))
    searched = rebatched(prepared.training_pipeline(3), 32, 128, 1293)
    run = prepare(dataclasses.replace(spec, batch_size=32), (32, 32, 1)).training_pipeline(3)
    for (images, labels), (run_images, run_labels) in zip(batches(searched, 8), batches(run, 8)):
        np.testing.assert_array_equal(labels, run_labels)
        np.testing.assert_array_equal(images, run_images)


def shift_offsets(epochs: int, num_shards: int = 1, shard_index: int = 0,
                  images: int = 1000) -> np.ndarray:
    """``(stored index, top, left)`` of every training view ``shift`` makes of ``images``
    black 32x32 images, each with one white pixel at (16, 16) and its index as its label,
    over ``epochs`` passes of one worker's shard: the crop's offsets in the image padded by
    2 pixels, which moved the pixel to (18 - top, 18 - left)."""
    import tensorflow as tf

    from engine.data.source import Source

    pictures = np.zeros((images, 32, 32, 1), np.uint8)
    pictures[:, 16, 16] = 255
    train = tf.data.Dataset.from_tensor_slices((pictures, np.arange(images, dtype=np.int64)))
    source = Source("probe", train, train.take(10), train.take(10), images, (32, 32, 1),
                    {"train": images, "validation": 10, "test": 10},
                    tuple(map(str, range(images))), mirror_symmetric=False)
    spec = DataSpec(dataset="probe", augmentation="shift", normalization="lenet", batch_size=50,
                    seed=42, validation_fraction=0, deterministic=True, num_shards=num_shards,
                    shard_index=shard_index)
    prepared = prepare(spec, (32, 32, 1), source=source)
    views = [batch for _ in range(epochs) for batch in batches(prepared.pipelines.train)]
    where = np.concatenate([crops.reshape(len(crops), -1).argmax(axis=1) for crops, _ in views])
    return np.stack([np.concatenate([labels for _, labels in views]),
                     18 - where // 32, 18 - where % 32], axis=1)


def test_an_images_crop_does_not_hang_on_its_place_in_the_stored_order():
    # The augmentation's draws were the shuffle's own numbers (both seeded with --seed):
    # the top offset matched the stored index modulo 5 for 27-29% of the views.
    index, top, _ = shift_offsets(epochs=5).T
    matches = np.mean(top == np.mod(index, 5))
    assert abs(matches - 0.2) < 0.03, matches  # 5,000 independent views: sd 0.0057


def test_each_shard_is_shuffled_and_cropped_on_its_own():
    # The shards of sharded data were shuffled in lockstep (shard 1's k-th image always the
    # one stored after shard 0's k-th) and drew the same crop for their k-th images.
    first, second = (shift_offsets(epochs=2, num_shards=2, shard_index=index)
                     for index in range(2))
    lockstep = np.mean(second[:, 0] == first[:, 0] + 1)
    assert lockstep < 0.1, lockstep  # 1 in 500 by chance
    same = np.mean(np.all(first[:, 1:] == second[:, 1:], axis=1))
    assert same < 0.1, same  # 1 in 25 alike by chance


def test_a_training_pipeline_built_anew_starts_from_its_seeds_first_pass():
    # A search's second trial trained on the pipeline's second pass (other shuffles and
    # crops than a run of the same --seed): trial scores hung on the trials before them.
    spec = DataSpec(dataset="digits", augmentation="cifar", deterministic=True, seed=3)
    prepared = prepare(spec, (32, 32, 1))
    first_pass = batches(prepared.pipelines.train, 2)
    batches(prepared.pipelines.train, 2)  # a later pass draws other seeds
    for seed, expected in ((3, first_pass),
                           (4, batches(prepare(dataclasses.replace(spec, seed=4),
                                               (32, 32, 1)).pipelines.train, 2))):
        for (images, labels), (same_images, same_labels) in zip(
                batches(prepared.training_pipeline(seed), 2), expected):
            np.testing.assert_array_equal(images, same_images)
            np.testing.assert_array_equal(labels, same_labels)


def test_shards_split_every_split_and_share_the_statistics(digits):
    shards = [prepare(DataSpec(dataset="digits", num_shards=2, shard_index=index), (32, 32, 1))
              for index in range(2)]
    counts = [sum(len(labels) for _, labels in batches(shard.pipelines.train)) for shard in shards]
    assert counts == [647, 646]
    for shard in shards:
        ours, whole = shard.preprocessing.to_json(), digits.preprocessing.to_json()
        for key in ("mean", "std", "colour_eigenvalues"):  # up to the summation order
            np.testing.assert_allclose(ours[key], whole[key], rtol=1e-12)
        policy = shard.pipelines.train.options().experimental_distribute.auto_shard_policy
        assert policy.name == "OFF"  # sharded already: tf.distribute must not shard again


def test_ten_crop_pipeline_batches_views_of_each_test_image(digits):
    images, labels = batches(digits.tta_pipeline("10crop"), 1)[0]
    assert images.shape == (3, 10, 32, 32, 1) and labels.shape == (3,)  # 32 // 10 images
    # Dense evaluation's whole images of one stored size are batched too.
    images, labels = batches(digits.tta_pipeline("dense"), 1)[0]
    assert images.shape == (16, 1, 32, 32, 1) and labels.shape == (16,)  # 32 // 2 images


def test_alexnet_mean_image_is_subtracted_from_the_centre_crops():
    spec = DataSpec(dataset="synthetic", augmentation="alexnet", normalization="mean_image")
    prepared = prepare(spec, (48, 48, 3))
    assert prepared.preprocessing.mean_image.shape == (48, 48, 3)
    assert np.abs(prepared.augmentation.colour_basis).max() > 0
    images = np.concatenate([images for images, _ in batches(prepared.pipelines.test, 10)])
    # synthetic repeats one pool of images in every split: the test mean is the train mean.
    assert abs(images.mean()) < 0.5 and images.std() > 20  # centred, not scaled to std 1


def test_image_folders_of_varying_sizes_are_not_cached_but_their_validation_views_are(
        tmp_path, monkeypatch):
    # The validation split's fixed views were decoded and resized again every epoch.
    from PIL import Image

    from engine.data import pipeline

    for index in range(10):
        for name, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
            (tmp_path / name).mkdir(exist_ok=True)
            Image.new("RGB", (20 + index, 16), colour).save(tmp_path / name / f"{index}.png")
    spec = DataSpec(dataset=f"folder:{tmp_path}", augmentation="inception", batch_size=4)
    prepared = prepare(spec, (16, 16, 3))
    assert prepared.source.sizes["validation"] == 2
    assert "CacheDataset" not in serialized_ops(prepared.pipelines.train)
    assert "CacheDataset" in serialized_ops(prepared.pipelines.validation)
    assert "CacheDataset" not in serialized_ops(prepared.pipelines.test)  # read once
    images, _ = batches(prepared.pipelines.train, 1)[0]
    assert images.shape == (4, 16, 16, 3)
    first = batches(prepared.pipelines.validation)
    assert [images.shape for images, _ in first] == [(2, 16, 16, 3)]
    np.testing.assert_array_equal(batches(prepared.pipelines.validation)[0][0], first[0][0])
    # Two float32 views of 16x16x3 take 6,144 bytes: over a smaller budget, not cached.
    monkeypatch.setattr(pipeline, "CACHE_BUDGET_BYTES", 6_143)
    prepared = prepare(spec, (16, 16, 3))
    assert "CacheDataset" not in serialized_ops(prepared.pipelines.validation)


def test_tta_views_of_whole_images_of_varying_sizes_are_batched(tmp_path):
    # flip and 10crop views are at the input size whatever the stored image's: they
    # went one image per batch, as dense evaluation's whole images must.
    from PIL import Image

    for index in range(6):
        for name, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
            (tmp_path / "test" / name).mkdir(parents=True, exist_ok=True)
            (tmp_path / "train" / name).mkdir(parents=True, exist_ok=True)
            for split in ("train", "test"):
                Image.new("RGB", (20 + index, 16 + 2 * index), colour).save(
                    tmp_path / split / name / f"{index}.png")
    prepared = prepare(DataSpec(dataset=f"folder:{tmp_path}", augmentation="vgg",
                                batch_size=8, validation_fraction=0), (16, 16, 3))
    for mode, views, images in (("flip", 2, [4, 4, 4]), ("10crop", 10, [1] * 12),
                                ("dense", 2, [1] * 12)):
        shapes = [batch.shape for batch, _ in batches(prepared.tta_pipeline(mode))]
        assert [shape[0] for shape in shapes] == images
        assert all(shape[1] == views for shape in shapes)
    prepared = dataclasses.replace(prepared, spec=dataclasses.replace(prepared.spec,
                                                                      batch_size=40))
    assert [batch.shape[:2] for batch, _ in batches(prepared.tta_pipeline("10crop"))] == [
        (4, 10)] * 3


def test_cifar10_pipeline_statistics(shared_tfds):
    # ../shared/README.md: the training set's channel means are 125.27/122.93/113.86 over
    # all 50,000 images; these are over the 45,000 of the train split.
    prepared = prepare(DataSpec(dataset="cifar10", data_dir=str(shared_tfds),
                                augmentation="cifar", batch_size=128), (32, 32, 3))
    np.testing.assert_allclose(prepared.preprocessing.mean, [125.27, 122.93, 113.86], atol=0.5)
    images, labels = batches(prepared.pipelines.train, 1)[0]
    assert images.shape == (128, 32, 32, 3) and labels.shape == (128,)
