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


# ---------------------------------------------------------------- only regular files are replaced


def _special_files(tmp_path) -> dict:
    """A character device (a null device made with mknod), a FIFO, a socket and a directory in
    ``tmp_path``, by the word the refusal uses; the device only where mknod is allowed (root)."""
    import socket

    made = {}
    try:
        os.mknod(tmp_path / "dev", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        made["a character device"] = tmp_path / "dev"
    except PermissionError:
        pass
    os.mkfifo(tmp_path / "fifo")
    made["a FIFO"] = tmp_path / "fifo"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    sock.close()
    made["a socket"] = tmp_path / "sock"
    (tmp_path / "dir").mkdir()
    made["a directory"] = tmp_path / "dir"
    return made


def test_devices_fifos_sockets_and_directories_are_never_replaced(tmp_path):
    from efftheory.errors import InputError
    from efftheory.runtime.files import check_writable_file

    made = _special_files(tmp_path)
    if os.geteuid() == 0:
        assert "a character device" in made  # root can mknod: the device case is really tried
    kinds = {path: stat.S_IFMT(os.lstat(path).st_mode) for path in made.values()}
    for word, path in made.items():
        for attempt in (lambda: check_writable_file(path, "--save"), lambda: write_bytes(path, b"data"),
                        lambda: save_npz(path, {"a": np.arange(3)})):
            with pytest.raises(InputError, match=word) as err:
                attempt()
            assert repr(str(path)) in str(err.value) and "\n" not in str(err.value)
    assert {path: stat.S_IFMT(os.lstat(path).st_mode) for path in made.values()} == kinds
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in made.values())  # no temporaries


def test_a_symlink_is_written_through_to_its_regular_file(tmp_path):
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_bytes(tmp_path / "link.json", b"new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_bytes() == b"new"
    (tmp_path / "dangling.json").symlink_to("made.json")  # a link to nothing yet: its target is created
    write_bytes(tmp_path / "dangling.json", b"x")
    assert (tmp_path / "made.json").read_bytes() == b"x" and (tmp_path / "dangling.json").is_symlink()
    (tmp_path / "to_fifo").symlink_to("fifo")
    os.mkfifo(tmp_path / "fifo")
    from efftheory.errors import InputError

    with pytest.raises(InputError, match="FIFO"):
        write_bytes(tmp_path / "to_fifo", b"x")


def test_any_legal_name_can_be_written(tmp_path):
    import tempfile

    from efftheory.runtime.files import TMP_PREFIX, check_writable_file

    name = "a" * (os.pathconf(tmp_path, "PC_NAME_MAX") - 4) + ".npz"  # 255 bytes on Linux
    seen = []
    real = tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, tmp = real(*args, **kwargs)
        seen.append(os.path.basename(tmp))
        return fd, tmp

    tempfile.mkstemp = spy
    try:
        check_writable_file(tmp_path / name, "--save")
        save_npz(tmp_path / name, {"a": np.arange(2)})
    finally:
        tempfile.mkstemp = real
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert seen and all(s.startswith(TMP_PREFIX) and len(s) < 40 for s in seen)


def test_cli_refuses_special_targets_and_one_path_for_two_outputs(tmp_path, cli_error):
    from tests.conftest import assert_one_line_error, run_cli

    made = _special_files(tmp_path)
    sim = ("simulate", "--p", "11", "--frac", "0.6", "--trials", "1", "--critical-trials", "10")
    for word, path in made.items():
        cli_error(*sim, "--save", path, needles=("--save", repr(str(path)), word.split()[-1]))
    if os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode):
        cli_error(*sim, "--save", "/dev/null", needles=("--save '/dev/null'", "character device"))
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    # in a subprocess whose stdout is a pipe, /dev/stdout leads to a FIFO
    assert_one_line_error(run_cli(*sim, "--plot", "/dev/stdout"), "--plot '/dev/stdout'", "FIFO")
    same = tmp_path / "same.png"
    cli_error(*sim, "--plot", same, "--save", same, needles=("--plot and --save", repr(str(same))))
    (tmp_path / "alias.png").symlink_to(same)
    cli_error(*sim, "--plot", same, "--save", tmp_path / "alias.png", needles=("--plot and --save",))
    assert not same.exists()
