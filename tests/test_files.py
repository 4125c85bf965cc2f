import os
import stat

import numpy as np
import pytest

from efftheory.runtime.files import atomic_write, save_npz, write_bytes


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


def test_check_writable_file_tries_the_directory_for_real(tmp_path):
    from efftheory.errors import InputError
    from efftheory.runtime.files import check_writable_file

    assert check_writable_file(tmp_path / "new.npz", "--save") == tmp_path / "new.npz"
    assert list(tmp_path.iterdir()) == []  # the trial file is gone
    for path, needle in [(tmp_path, "is a directory"), (tmp_path / "no" / "x.npz", "does not exist"),
                         ("/proc/x.npz", "cannot write in directory '/proc'")]:
        with pytest.raises(InputError, match=needle) as err:
            check_writable_file(path, "--save")
        assert str(err.value).startswith(f"--save '{path}'")
