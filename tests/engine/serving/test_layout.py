"""TF Serving's layout: numbered versions under a base path, written atomically,
never replaced."""

import os
import subprocess
import sys

import pytest

from engine.serving import layout
from layers.errors import UsageError


def write_saved_model(directory):
    with open(os.path.join(directory, layout.SAVED_MODEL_FILE), "wb") as file:
        file.write(b"graph")


def test_each_export_is_the_next_version(tmp_path):
    base = tmp_path / "export"
    first = layout.write_version(str(base), write_saved_model)
    second = layout.write_version(str(base), write_saved_model)
    assert (first, second) == (str(base / "1"), str(base / "2"))
    (base / "7").mkdir()
    (base / "notes").mkdir()  # not a version: TF Serving reads numeric names only
    assert layout.write_version(str(base), write_saved_model) == str(base / "8")
    assert layout.versions(str(base)) == [1, 2, 7, 8]
    assert sorted(os.listdir(base)) == ["1", "2", "7", "8", "notes"]  # no staging left


def test_a_file_with_a_numeric_name_is_stepped_over_not_read_as_a_version(tmp_path):
    # A stray file "4" beside versions 1-3: the next version cannot be renamed onto it.
    base = tmp_path / "export"
    for _ in range(3):
        layout.write_version(str(base), write_saved_model)
    (base / "4").write_text("not a version")
    assert layout.write_version(str(base), write_saved_model) == str(base / "5")
    assert layout.versions(str(base)) == [1, 2, 3, 5]
    (base / "9").write_text("")
    assert layout.saved_model_dir(str(base)) == str(base / "5")


def test_a_version_is_readable_by_a_server_running_as_another_user(tmp_path):
    version = layout.write_version(str(tmp_path / "export"), write_saved_model)
    assert os.stat(version).st_mode & 0o777 == 0o755  # not mkdtemp's 0o700


def test_a_version_another_writer_took_is_not_replaced(tmp_path, monkeypatch):
    base = tmp_path / "export"
    (base / "1").mkdir(parents=True)
    write_saved_model(base / "1")
    real_next_version = layout.next_version
    calls = []

    def stale_next_version(path):  # the first look misses version 1, as in a race
        calls.append(path)
        return 1 if len(calls) == 1 else real_next_version(path)

    monkeypatch.setattr(layout, "next_version", stale_next_version)
    version = layout.write_version(str(base), lambda directory: (
        open(os.path.join(directory, "mine"), "w").close()))
    assert version == str(base / "2") and os.listdir(base / "2") == ["mine"]
    assert os.listdir(base / "1") == [layout.SAVED_MODEL_FILE]


def test_a_failed_write_leaves_no_version_and_no_staging_folder(tmp_path):
    base = tmp_path / "export"

    def fails(directory):
        write_saved_model(directory)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        layout.write_version(str(base), fails)
    assert os.listdir(base) == []


def test_a_killed_writers_staging_folder_goes_with_the_next_version(tmp_path):
    # An export killed while writing left its .partial-* folder for good: neither a
    # resumed run nor --overwrite removed it (a SavedModel can be hundreds of MB).
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    gone, alive = int(finished.stdout), os.getpid()
    base = tmp_path / "export"
    abandoned = base / f"{layout.staging_prefix(gone)}k1ll3d_x"
    writing = base / f"{layout.staging_prefix(alive)}st1ll_on"
    elsewhere = base / f"{layout.STAGING_PREFIX}other-host-{gone}-remote_1"
    for folder in (abandoned, writing, elsewhere):
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(b"half")
    version = layout.write_version(str(base), write_saved_model)
    assert sorted(os.listdir(base)) == sorted(["1", writing.name, elsewhere.name])
    assert version == str(base / "1")


def test_base_paths_that_cannot_hold_versions_are_usage_errors(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(UsageError, match=r"--export_dir=.*file' is a file"):
        layout.check_base_path(str(a_file))
    unversioned = tmp_path / "old_export"
    unversioned.mkdir()
    write_saved_model(unversioned)
    with pytest.raises(UsageError, match="holds an unversioned SavedModel"):
        layout.check_base_path(str(unversioned))
    version = tmp_path / "export" / "3"  # a version given for its base path
    version.mkdir(parents=True)
    write_saved_model(version)
    with pytest.raises(UsageError, match=f"is version 3 of an export; pass its parent, "
                                         f"'{tmp_path / 'export'}', to add a version"):
        layout.check_base_path(str(version))
    layout.check_base_path(str(tmp_path / "new" / "export"))  # created when written


def test_saved_model_dir_is_a_version_or_the_highest_version_of_a_base_path(tmp_path):
    base = tmp_path / "export"
    for version in ("2", "10"):
        (base / version).mkdir(parents=True)
        write_saved_model(base / version)
    (base / "11").mkdir()  # empty: not a SavedModel
    assert layout.saved_model_dir(str(base)) == str(base / "10")
    assert layout.saved_model_dir(str(base / "2")) == str(base / "2")
    with pytest.raises(UsageError, match=rf"^No SavedModel in '{tmp_path}': pass a model base "
                                         rf"path holding <version>/saved_model.pb \(an "
                                         rf"--export_dir\) \('{base}', the exports of the run in "
                                         rf"it, is one\) or a version folder\.$"):
        layout.saved_model_dir(str(tmp_path))  # a run's folder, its exports in export/
    with pytest.raises(UsageError, match=r"\(an --export_dir\) or a version folder"):
        layout.saved_model_dir(str(base / "11"))
