# SPDX-License-Identifier: Apache-2.0
"""What the plugin path needs from the operating system, on the built-in `posix` module.

`import os` is the largest single cost of a plugin's start-up: about 5 million instructions
(some 2 ms here, a quarter of the bare interpreter's start), most of them spent building
`_collections_abc`, which `os` needs for its environment mapping. `posix` is loaded before
any Python code runs and has every system call the plugins make; this module adds the few
path helpers they need and the environment as `str`. The runtime library, which is not
started per operation, uses `os` as usual.
"""

import posix

_S_IFMT = 0o170000
_S_IFDIR = 0o040000
_S_IFREG = 0o100000


def environ() -> dict[str, str]:
    """The process environment, decoded as `os.environ` decodes it."""
    return {
        key.decode("utf-8", "surrogateescape"): value.decode("utf-8", "surrogateescape")
        for key, value in posix.environ.items()
    }


def join(path: str, *names: str) -> str:
    """`os.path.join` for POSIX paths: an absolute part starts over."""
    for name in names:
        if name.startswith("/") or not path:
            path = name
        elif path.endswith("/"):
            path += name
        else:
            path += "/" + name
    return path


def basename(path: str) -> str:
    return path.rpartition("/")[2]


def dirname(path: str) -> str:
    """`os.path.dirname`: everything before the last `/`, without trailing slashes."""
    head = path[: path.rfind("/") + 1]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head


def absolute(path: str) -> str:
    return path if path.startswith("/") else join(posix.getcwd(), path)


def is_dir(path: str) -> bool:
    try:
        return posix.stat(path).st_mode & _S_IFMT == _S_IFDIR
    except OSError:
        return False


def is_regular(mode: int) -> bool:
    return mode & _S_IFMT == _S_IFREG


def makedirs(path: str, mode: int) -> None:
    """Creates `path` and any missing parents with `mode` (as Go's `os.MkdirAll`, not
    `os.makedirs`, whose parents get 0o777: under `umask 000` that is world-writable)."""
    try:
        posix.mkdir(path, mode)
    except FileExistsError:
        if not is_dir(path):
            raise
    except FileNotFoundError:
        parent = dirname(path)
        if not parent or parent == path:
            raise
        makedirs(parent, mode)
        try:
            posix.mkdir(path, mode)
        except FileExistsError:
            if not is_dir(path):
                raise


def read_all(fd: int) -> bytes:
    """Everything left to read from `fd`."""
    chunks = []
    while chunk := posix.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[posix.write(fd, view) :]


def temporary_name(name: str) -> str:
    """The temporary file :func:`replace_file` writes `name` through: one per name, so
    whoever removes `name` can remove what a writer killed mid-write left."""
    return f".{name}.tmp"


def replace_file(directory: str, name: str, data: bytes, mode: int = 0o600) -> None:
    """Makes `directory/name` hold `data`, atomically: a temporary file, fsync, rename over
    the old one, fsync of the directory. A crash leaves the old file or the new, never a
    part. One writer per name at a time (what the callers' records are: one attachment's)."""
    tmp = join(directory, temporary_name(name))
    flags = posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_CLOEXEC | posix.O_NOFOLLOW
    try:
        fd = posix.open(tmp, flags, mode)
    except FileExistsError:
        posix.unlink(tmp)  # left by a writer that was killed
        fd = posix.open(tmp, flags, mode)
    try:
        write_all(fd, data)
        posix.fsync(fd)
    except BaseException:
        posix.close(fd)
        posix.unlink(tmp)
        raise
    posix.close(fd)
    posix.rename(tmp, join(directory, name))
    dir_fd = posix.open(directory, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        posix.fsync(dir_fd)
    finally:
        posix.close(dir_fd)


def remove_file(directory: str, name: str) -> None:
    """Removes `directory/name` and the temporary file of a killed write of it; either may
    be absent."""
    for gone in (name, temporary_name(name)):
        try:
            posix.unlink(join(directory, gone))
        except FileNotFoundError:
            pass
