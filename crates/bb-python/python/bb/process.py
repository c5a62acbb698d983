"""Running commands (BitBake's bb.process): `run` returns (stdout, stderr) and raises
`ExecutionError` on failure, `NotFoundError` when the command does not exist."""
import errno
import subprocess


class CmdError(RuntimeError):
    def __init__(self, command, msg=None):
        self.command = command
        self.msg = msg

    def __str__(self):
        if not isinstance(self.command, str):
            cmd = subprocess.list2cmdline(self.command)
        else:
            cmd = self.command
        msg = "Execution of '%s' failed" % cmd
        if self.msg:
            msg += ': %s' % self.msg
        return msg


class NotFoundError(CmdError):
    def __str__(self):
        return CmdError.__str__(self) + ": command not found"


class ExecutionError(CmdError):
    def __init__(self, command, exitcode, stdout=None, stderr=None):
        CmdError.__init__(self, command)
        self.exitcode = exitcode
        self.stdout = stdout
        self.stderr = stderr
        self.extra_message = None

    def __str__(self):
        message = ""
        if self.stderr:
            message += self.stderr
        if self.stdout:
            message += self.stdout
        if message:
            message = ":\n" + message
        return (CmdError.__str__(self) +
                " with exit code %s" % self.exitcode + message + (self.extra_message or ""))


class Popen(subprocess.Popen):
    """subprocess.Popen with BitBake's defaults: pipes, no inherited descriptors, a shell
    when the command is a string."""
    defaults = {"close_fds": True, "preexec_fn": None, "stdout": subprocess.PIPE,
                "stderr": subprocess.PIPE, "stdin": subprocess.PIPE, "shell": False}

    def __init__(self, *args, **kwargs):
        options = dict(self.defaults)
        options.update(kwargs)
        super().__init__(*args, **options)


def _decode(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def run(cmd, input=None, log=None, extrafiles=None, **options):
    """Runs `cmd` (a list, or a string run by the shell) to completion."""
    if isinstance(cmd, str) and "shell" not in options:
        options["shell"] = True
    try:
        pipe = Popen(cmd, **options)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise NotFoundError(cmd)
        raise CmdError(cmd, exc)
    stdout, stderr = pipe.communicate(input)
    stdout, stderr = _decode(stdout), _decode(stderr)
    if log:
        log.write(stdout or "")
        log.write(stderr or "")
    if pipe.returncode != 0:
        if log:
            stdout = None
            stderr = None
        raise ExecutionError(cmd, pipe.returncode, stdout, stderr)
    return stdout, stderr
