"""engine/publish.py: the record that lets a run interrupted between its export and its
report keep its version, and only where that version is the same export."""

import os

from engine import rundir
from engine.publish import exported_before


def test_a_recorded_export_is_kept_only_for_the_same_weights_place_and_formats(tmp_path):
    version = tmp_path / "export" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    record = {"base_path": str(tmp_path / "export"), "formats": ["saved_model"],
              "weights_sha256": "a" * 64}
    marker = str(tmp_path / rundir.PUBLISHED_FILE)
    assert exported_before(marker, record) is None  # none recorded
    rundir.write_json(marker, {**record, "version": str(version)})
    assert exported_before(marker, record) == str(version)
    for changed in ({"base_path": str(tmp_path / "elsewhere")},  # --export_dir changed
                    {"formats": ["saved_model", "tflite"]},  # --export_format changed
                    {"weights_sha256": "b" * 64}):  # other weights
        assert exported_before(marker, {**record, **changed}) is None
    os.remove(version / "saved_model.pb")  # the version was deleted since
    assert exported_before(marker, record) is None
    (tmp_path / rundir.PUBLISHED_FILE).write_text("[1, 2]")  # not one this wrote
    assert exported_before(marker, record) is None
