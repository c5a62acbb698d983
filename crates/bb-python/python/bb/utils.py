"""bb.utils: the helpers metadata calls (written for Hitzeleiter)."""
import collections
import contextlib
import errno
import hashlib
import os
import re
import shutil

import bb

# The global python context of the metadata: `def` blocks and layer libraries land here.
_context = {}


def get_context():
    return _context


def to_boolean(string, default=None):
    if not string:
        return default
    if isinstance(string, int):
        return string != 0
    normalized = string.lower()
    if normalized in ("y", "yes", "1", "true"):
        return True
    elif normalized in ("n", "no", "0", "false"):
        return False
    else:
        raise ValueError("Invalid value for to_boolean: %s" % string)


def _word_sets(variable, checkvalues, d):
    """The words of a variable and of checkvalues (a string or an iterable), or None
    when the variable is unset or empty."""
    val = d.getVar(variable)
    if not val:
        return None
    if isinstance(checkvalues, str):
        checkvalues = checkvalues.split()
    return set(val.split()), set(checkvalues)


def contains(variable, checkvalues, truevalue, falsevalue, d):
    sets = _word_sets(variable, checkvalues, d)
    return truevalue if sets and sets[1].issubset(sets[0]) else falsevalue


def contains_any(variable, checkvalues, truevalue, falsevalue, d):
    sets = _word_sets(variable, checkvalues, d)
    return truevalue if sets and sets[1] & sets[0] else falsevalue


def filter(variable, checkvalues, d):
    sets = _word_sets(variable, checkvalues, d)
    return " ".join(sorted(sets[1] & sets[0])) if sets else ""


def explode_version(s):
    """A version as (kind, part) pairs: numbers (0), letters (1), '~' (-1), others (2)."""
    r = []
    while s != "":
        if s[0].isdigit() and s[0].isascii():
            m = re.match(r"^(\d+)(.*)$", s)
            r.append((0, int(m.group(1))))
            s = m.group(2)
            continue
        if s[0].isascii() and s[0].isalpha():
            m = re.match(r"^([a-zA-Z]+)(.*)$", s)
            r.append((1, m.group(1)))
            s = m.group(2)
            continue
        r.append((-1, s[0]) if s[0] == "~" else (2, s[0]))
        s = s[1:]
    return r


def split_version(s):
    """(PE, PV, PR) of a version string."""
    s = s.strip(" <>=")
    e = 0
    if s.count(":"):
        e = int(s.split(":")[0])
        s = s.split(":")[1]
    r = ""
    if s.count("-"):
        r = s.rsplit("-", 1)[1]
        s = s.rsplit("-", 1)[0]
    return (e, s, r)


def vercmp_part(a, b):
    va = explode_version(a)
    vb = explode_version(b)
    while True:
        (oa, ca) = va.pop(0) if va else (0, None)
        (ob, cb) = vb.pop(0) if vb else (0, None)
        if (oa, ca) == (0, None) and (ob, cb) == (0, None):
            return 0
        if oa < ob:
            return -1
        if oa > ob:
            return 1
        if ca is None:
            return -1
        if cb is None:
            return 1
        if ca < cb:
            return -1
        if ca > cb:
            return 1


def vercmp(ta, tb):
    (ea, va, ra) = ta
    (eb, vb, rb) = tb
    r = int(ea or 0) - int(eb or 0)
    if r == 0:
        r = vercmp_part(va, vb)
    if r == 0:
        r = vercmp_part(ra, rb)
    return r


def vercmp_string(a, b):
    return vercmp(split_version(a), split_version(b))


def vercmp_string_op(a, b, op):
    res = vercmp_string(a, b)
    if op in ("=", "=="):
        return res == 0
    elif op == "<=":
        return res <= 0
    elif op == ">=":
        return res >= 0
    elif op in (">", ">>"):
        return res > 0
    elif op in ("<", "<<"):
        return res < 0
    elif op == "!=":
        return res != 0
    else:
        raise VersionStringException('Unsupported comparison operator "%s"' % op)


class VersionStringException(Exception):
    pass


def explode_deps(s):
    r = []
    l = s.split()
    flag = False
    for i in l:
        if i[0] == "(":
            flag = True
        if not flag:
            r.append(i)
        if flag and i.endswith(")"):
            flag = False
    return r


def explode_dep_versions2(s, *, sort=True):
    r = collections.OrderedDict()
    l = s.replace(",", "").split()
    lastdep = None
    lastcmp = ""
    lastver = ""
    incmp = False
    inversion = False
    for i in l:
        if i[0] == "(":
            incmp = True
            i = i[1:].strip()
            if not i:
                continue
        if incmp:
            incmp = False
            inversion = True
            for op in ("<=", ">=", "<<", ">>", "==", "!=", "<", ">", "="):
                if i.startswith(op):
                    lastcmp = op
                    i = i[len(op):].strip()
                    break
            else:
                lastcmp = "="
            if not i:
                continue
        if inversion:
            if i.endswith(")"):
                i = i[:-1] or ""
                inversion = False
                if lastver and i:
                    lastver += " "
            if i:
                lastver += i
                if lastdep not in r:
                    r[lastdep] = []
                r[lastdep].append(lastcmp + " " + lastver)
            continue
        lastdep = i
        lastver = ""
        lastcmp = ""
        if not (i in r and r[i]):
            r[lastdep] = []
    if sort:
        r = collections.OrderedDict(sorted(r.items(), key=lambda x: x[0]))
    return r


def explode_dep_versions(s):
    r = explode_dep_versions2(s)
    for d in r:
        if not r[d]:
            r[d] = None
            continue
        r[d] = r[d][0]
    return r


def join_deps(deps, commasep=True):
    result = []
    for dep in deps:
        if deps[dep]:
            if isinstance(deps[dep], list):
                for v in deps[dep]:
                    result.append(dep + " (" + v + ")")
            else:
                result.append(dep + " (" + deps[dep] + ")")
        else:
            result.append(dep)
    if commasep:
        return ", ".join(result)
    return " ".join(result)


def which(path, item, direction=0, history=False, executable=False):
    if executable:
        is_candidate = lambda p: os.path.isfile(p) and os.access(p, os.X_OK)
    else:
        is_candidate = lambda p: os.path.exists(p)
    hist = []
    paths = (path or "").split(":")
    if direction != 0:
        paths.reverse()
    for p in paths:
        candidate = os.path.join(p, item)
        hist.append(candidate)
        if is_candidate(candidate):
            if not os.path.isabs(candidate):
                candidate = os.path.abspath(candidate)
            if history:
                return candidate, hist
            return candidate
    if history:
        return "", hist
    return ""


def mkdirhier(directory):
    try:
        os.makedirs(directory)
    except OSError as e:
        if e.errno != errno.EEXIST or not os.path.isdir(directory):
            raise e


def remove(path, recurse=False, ionice=False):
    import glob
    for name in glob.glob(path):
        try:
            if recurse and os.path.isdir(name) and not os.path.islink(name):
                shutil.rmtree(name)
            else:
                os.unlink(name)
        except FileNotFoundError:
            pass


def _hash_file(hasher, path):
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def md5_file(filename):
    return _hash_file(hashlib.md5(), filename)


def sha256_file(filename):
    return _hash_file(hashlib.sha256(), filename)


def sha1_file(filename):
    return _hash_file(hashlib.sha1(), filename)


def sha384_file(filename):
    return _hash_file(hashlib.sha384(), filename)


def sha512_file(filename):
    return _hash_file(hashlib.sha512(), filename)


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def get_file_layer(filename, d, collection_res=None):
    """The collection whose BBFILE_PATTERN is the longest one matching filename."""
    match, matchlen = None, 0
    for collection in (d.getVar("BBFILE_COLLECTIONS") or "").split():
        pattern = d.getVar("BBFILE_PATTERN_%s" % collection) or ""
        if len(pattern) > matchlen and re.match(pattern, filename):
            match, matchlen = collection, len(pattern)
    return match


def filter_string(val, checkvalues):
    """The words of `val` that are in `checkvalues` (a string or an iterable), sorted."""
    if not val:
        return ""
    wanted = set(checkvalues.split()) if isinstance(checkvalues, str) else set(checkvalues)
    return " ".join(sorted(wanted & set(val.split())))


def prune_suffix(var, suffixes, d):
    """`var` without the first of `suffixes` it ends with."""
    for suffix in suffixes:
        if suffix and var.endswith(suffix):
            return var[:-len(suffix)]
    return var


def to_filemode(input):
    """A file mode from a variable's octal text (or an int as it is)."""
    if isinstance(input, int):
        return input
    return int(input, 8)


_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")


def is_semver(version):
    """Whether `version` follows semantic versioning 2.0.0."""
    return _SEMVER.match(version) is not None


def path_is_descendant(descendant, ancestor):
    """Whether `descendant` is `ancestor` or below it, comparing by inode (symlinks and
    bind mounts included)."""
    ancestor_stat = os.stat(ancestor)
    check = os.path.abspath(descendant).rstrip("/")
    while check:
        if os.path.samestat(os.stat(check), ancestor_stat):
            return True
        check = os.path.dirname(check).rstrip("/")
    return False


@contextlib.contextmanager
def umask(new_mask):
    """Runs the block with `new_mask` as the process umask."""
    old = os.umask(new_mask)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def environment(**envvars):
    """Runs the block with the given environment variables set, then restores them."""
    backup = dict(os.environ)
    try:
        os.environ.update(envvars)
        yield
    finally:
        for var in envvars:
            if var in backup:
                os.environ[var] = backup[var]
            elif var in os.environ:
                del os.environ[var]


def better_eval(source, locals, extraglobals=None):
    """Evaluates `source` with the metadata's global context (and `extraglobals`)."""
    ctx = get_context()
    if extraglobals:
        ctx = dict(ctx)
        ctx.update(extraglobals)
    return eval(source, ctx, locals)


def lockfile(name, shared=False, retry=True, block=False):
    """Takes an fcntl lock on the file `name` (created if needed) and returns the open
    file; None when `retry` is false and the lock is taken. The lock file is re-opened if
    it was deleted while waiting."""
    import fcntl
    basename = os.path.basename(name)
    if len(basename) > 255:
        root, ext = os.path.splitext(basename)
        basename = root[:255 - len(ext)] + ext
    dirname = os.path.dirname(name)
    mkdirhier(dirname)
    name = os.path.join(dirname, basename)
    if not os.access(dirname, os.W_OK):
        bb.fatal("Error, lockfile path is not writable!: %s" % dirname)
    op = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    if not retry and not block:
        op |= fcntl.LOCK_NB
    while True:
        try:
            lf = open(name, "a+")
            fileno = lf.fileno()
            fcntl.flock(fileno, op)
            statinfo = os.fstat(fileno)
            if os.path.exists(lf.name) and os.stat(lf.name).st_ino == statinfo.st_ino:
                return lf
            lf.close()
        except OSError as e:
            if e.errno in (errno.EACCES, errno.ENAMETOOLONG):
                bb.fatal("Unable to acquire lock '%s', %s" % (name, e.strerror))
            try:
                lf.close()
            except Exception:
                pass
        if not retry:
            return None


def unlockfile(lf):
    """Releases a lock taken with `lockfile` (removing the file if nobody else holds it)."""
    import fcntl
    try:
        fcntl.flock(lf.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(lf.name)
    except (IOError, OSError):
        pass
    fcntl.flock(lf.fileno(), fcntl.LOCK_UN)
    lf.close()


@contextlib.contextmanager
def fileslocked(files, *args, **kwargs):
    """Holds `lockfile` locks on every file of `files` for the block."""
    locks = []
    if files:
        for lockname in files:
            lock = lockfile(lockname, *args, **kwargs)
            if lock is not None:
                locks.append(lock)
    try:
        yield
    finally:
        locks.reverse()
        for lock in locks:
            unlockfile(lock)


def rename(src, dst):
    """os.rename, falling back to a move across file systems."""
    try:
        os.rename(src, dst)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        shutil.move(src, dst)


def prunedir(topdir, ionice=False):
    """Removes `topdir` and everything below it."""
    if os.path.islink(topdir):
        raise Exception("Refusing to prune a symlink: %s" % topdir)
    remove(topdir, recurse=True, ionice=ionice)


def nonblockingfd(fd):
    import fcntl
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def is_local_uid(uid=""):
    """Whether `uid` (default: the current user's) is in the local /etc/passwd."""
    if not uid:
        uid = os.getuid()
    with open("/etc/passwd", "r") as f:
        for line in f:
            fields = line.split(":")
            if len(fields) > 2 and fields[2] == str(uid):
                return True
    return False


def mkstemp(suffix=None, prefix=None, dir=None, text=False):
    """tempfile.mkstemp with extra random characters in the name, so that parallel
    builds on shared file systems do not collide."""
    import random
    import tempfile
    entropy = "".join(random.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890", k=20))
    prefix = (prefix or tempfile.gettempprefix()) + entropy
    return tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=dir, text=text)
