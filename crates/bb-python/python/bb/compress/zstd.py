"""Read and write zstd files by piping through the `zstd` program, as BitBake does (so
that its multi-threaded compression is used)."""
import io
import os
import shutil
import subprocess


def _zstd_program(num_threads):
    program = shutil.which("pzstd") if num_threads > 1 and shutil.which("pzstd") else None
    if program:
        return [program, "-p", str(num_threads)]
    program = shutil.which("zstd")
    if not program:
        raise FileNotFoundError("zstd is not installed (needed to read or write .zst files)")
    return [program, "-T%d" % num_threads]


class ZstdFile(io.RawIOBase):
    """A binary file object whose data is (de)compressed by a `zstd` child process."""

    def __init__(self, filename, mode="r", *, num_threads=1, compresslevel=3):
        super().__init__()
        if mode not in ("r", "rb", "w", "wb", "x", "xb", "a", "ab"):
            raise ValueError("invalid mode %r" % mode)
        self._reading = mode.startswith("r")
        program = _zstd_program(num_threads)
        if self._reading:
            self._file = open(filename, "rb")
            self._process = subprocess.Popen(program + ["-d", "-c"], stdin=self._file,
                                             stdout=subprocess.PIPE)
            self._pipe = self._process.stdout
        else:
            self._file = open(filename, mode.replace("t", "").rstrip("b") + "b")
            self._process = subprocess.Popen(program + ["-c", "-%d" % compresslevel],
                                             stdin=subprocess.PIPE, stdout=self._file)
            self._pipe = self._process.stdin

    def readable(self):
        return self._reading

    def writable(self):
        return not self._reading

    def readinto(self, buffer):
        data = self._pipe.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def write(self, data):
        self._pipe.write(data)
        return len(data)

    def close(self):
        if self.closed:
            return
        try:
            self._pipe.close()
            code = self._process.wait()
            if code != 0:
                raise OSError("zstd exited with %d" % code)
        finally:
            self._file.close()
            super().close()


def open(filename, mode="rb", encoding=None, errors=None, newline=None, *, num_threads=1,
         compresslevel=3):
    """Like `gzip.open`: binary unless `t` is in `mode`."""
    raw = ZstdFile(filename, mode.replace("t", ""), num_threads=num_threads,
                   compresslevel=compresslevel)
    if "t" in mode:
        return io.TextIOWrapper(io.BufferedReader(raw) if raw.readable() else io.BufferedWriter(raw),
                                encoding, errors, newline)
    return raw
