"""A stand-in for ``pip download``: the source distribution it would leave, each member holding
its own name, so a test sees which members a step unpacked and where from."""
import io
import tarfile
from collections.abc import Callable
from pathlib import Path


def downloader(requirement: str, archive: str, members: list[str]) -> Callable:
    """A ``subprocess.run`` that, asked to ``pip download`` ``requirement``, writes ``archive``
    (a .tar.gz of ``members``) into the folder the command names."""
    def run(cmd, check):
        assert cmd[1:4] == ["-m", "pip", "download"] and requirement in cmd and check
        with tarfile.open(Path(cmd[cmd.index("-d") + 1]) / archive, "w:gz") as tar:
            for name in members:
                info = tarfile.TarInfo(name)
                info.size = len(name)
                tar.addfile(info, io.BytesIO(name.encode()))
    return run
