import os
import stat

import numpy as np
import pytest

from efftheory.files import atomic_write, save_npz, write_bytes


def test_save_npz_writes_exactly_the_path_asked_for(tmp_path):
    target = tmp_path / "run.dat"  # not .npz: numpy would append '.npz' to a name
    save_npz(target, {"a": np.arange(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.dat"]
    with np.load(target) as data:
        assert data["a"].tolist() == [0, 1, 2]


def test_written_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_bytes(tmp_path / "x.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def broken(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
