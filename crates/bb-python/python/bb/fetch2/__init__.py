"""BitBake's fetcher, for what a build without network access can reach: URLs (`URI`,
`decodeurl`, `encodeurl`), the fetch exceptions, AUTOREV; `Fetch` finds file:// URLs on
FILESPATH and downloads http(s)/ftp URLs from PREMIRRORS/MIRRORS entries that point at
local directories (file://), verifying SRC_URI checksums; `unpack` copies files and
extracts archives. Fetching from the network itself is not implemented and says so."""
import collections
import os
import re
import urllib.parse

import _hz

import bb


class BBFetchException(Exception):
    """Base class of all fetcher errors."""

    def __init__(self, message):
        self.msg = message
        Exception.__init__(self, message)

    def __str__(self):
        return self.msg


class UntrustedUrl(BBFetchException):
    def __init__(self, url, message=""):
        msg = message or "The URL: '%s' is not trusted and cannot be used" % url
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (url,)


class MalformedUrl(BBFetchException):
    def __init__(self, url, message=""):
        msg = message or "The URL: '%s' is invalid and cannot be interpreted" % url
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (url,)


class FetchError(BBFetchException):
    def __init__(self, message, url=None):
        msg = "Fetcher failure for URL: '%s'. %s" % (url, message) if url else \
            "Fetcher failure: %s" % message
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (message, url)


class ChecksumError(FetchError):
    def __init__(self, message, url=None, checksum=None):
        self.checksum = checksum
        FetchError.__init__(self, message, url)


class NoChecksumError(FetchError):
    pass


class UnpackError(BBFetchException):
    def __init__(self, message, url):
        msg = "Unpack failure for URL: '%s'. %s" % (url, message)
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (message, url)


class LocalModificationsError(UnpackError):
    pass


class RebaseError(UnpackError):
    pass


class NoMethodError(BBFetchException):
    def __init__(self, url):
        msg = "Could not find a fetcher which supports the URL: '%s'" % url
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (url,)


class MissingParameterError(BBFetchException):
    def __init__(self, missing, url):
        msg = "URL: '%s' is missing the required parameter '%s'" % (url, missing)
        self.url = url
        self.missing = missing
        BBFetchException.__init__(self, msg)
        self.args = (missing, url)


class ParameterError(BBFetchException):
    def __init__(self, message, url):
        msg = "URL: '%s' has invalid parameters. %s" % (url, message)
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (message, url)


class NetworkAccess(BBFetchException):
    def __init__(self, url, cmd):
        msg = "Network access disabled through BB_NO_NETWORK (or set indirectly due to use of BB_FETCH_PREMIRRORONLY) but access requested with command %s (for url %s)" % (cmd, url)
        self.url = url
        self.cmd = cmd
        BBFetchException.__init__(self, msg)
        self.args = (url, cmd)


class NonLocalMethod(Exception):
    pass


def _split_params(text, separator):
    params = collections.OrderedDict()
    for item in text.split(separator):
        if not item:
            continue
        key, _, value = item.partition("=")
        params[key] = value if "=" in item else None
    return params


# A recipe's SRC_URI is parsed by each of its variants and by several classes: each text
# is parsed once (the parse has no inputs but the text).
_parsed_uris = {}
_netloc_after_scheme = re.compile(r"(?<=:)//(?!/)")
_relative_url = re.compile(r"^\w+:(?!//)")


def _urlparse(url):
    """(scheme, path, query, hostname, port, username, password) of
    `urllib.parse.urlparse(url)`: natively for the plain URLs most are."""
    fields = _hz.split_url(url)
    if fields is None:
        parsed = urllib.parse.urlparse(url)
        # A bad port raises only when it is read, as URI reads it: not for a relative URL.
        try:
            port = parsed.port
        except ValueError as error:
            port = error
        fields = (parsed.scheme, parsed.path, parsed.query, parsed.hostname, port,
                  parsed.username, parsed.password)
    return fields


class URI(object):
    """A BitBake URL: `scheme://[user[:password]@]host[:port]/path[?query][;k=v...]`.
    `file:` and `git:` URLs may be relative (`file:a.patch`, `file://a.patch`)."""

    _relative_schemes = ["file", "git"]
    _netloc_forbidden = ["file"]

    def __init__(self, uri=None):
        self.scheme = ""
        self.userinfo = ""
        self.hostname = ""
        self.port = None
        self._path = ""
        self.params = {}
        self.query = {}
        self.relative = False
        if not uri:
            return
        fields = _parsed_uris.get(uri)
        if fields is None:
            fields = _parsed_uris[uri] = self._parse(uri)
        (self.scheme, self.userinfo, self.hostname, self.port, self.path, params,
         query) = fields
        self.params = params.copy()
        self.query = query.copy()

    def _parse(self, uri):
        """The fields a URI made from `uri` has (its own parse, mutated by nobody)."""
        uri, _, param_str = uri.partition(";")
        scheme, path, query, hostname, port, username, password = _urlparse(uri)
        self.scheme = scheme
        reparse = False
        if self.scheme not in urllib.parse.uses_netloc:
            # BitBake appends for every URL; urlparse scans the list for every URL after.
            if self.scheme not in urllib.parse.uses_params:
                urllib.parse.uses_params.append(self.scheme)
            reparse = True
        if scheme in self._netloc_forbidden:
            # `file://relative/path` names a path, never a host.
            uri = _netloc_after_scheme.sub("", uri, count=1)
            reparse = True
        if reparse:
            scheme, path, query, hostname, port, username, password = _urlparse(uri)
        if scheme in self._relative_schemes and _relative_url.match(uri):
            self.relative = True
        if not self.relative:
            if isinstance(port, ValueError):
                raise port
            self.hostname = hostname or ""
            self.port = port
            self.userinfo += username or ""
            if password:
                self.userinfo += ":%s" % password
        self.path = urllib.parse.unquote(path) if "%" in path else path
        if param_str:
            self.params = _split_params(param_str, ";")
        if query:
            self.query = _split_params(query, "&")
        return (self.scheme, self.userinfo, self.hostname, self.port, self.path, self.params,
                self.query)

    def __str__(self):
        userinfo = self.userinfo + "@" if self.userinfo else ""
        query = "?" + "&".join(k + "=" + v if v else k for k, v in self.query.items()) \
            if self.query else ""
        params = ";" + ";".join(k + "=" + v for k, v in self.params.items()) \
            if self.params else ""
        return "%s:%s%s%s%s%s%s" % (self.scheme, "" if self.relative else "//", userinfo,
                                    self.hostport, self.path_quoted, query, params)

    @property
    def hostport(self):
        if not self.port:
            return self.hostname
        return "%s:%d" % (self.hostname, self.port)

    @property
    def path_quoted(self):
        return urllib.parse.quote(self.path)

    @path_quoted.setter
    def path_quoted(self, path):
        self.path = urllib.parse.unquote(path)

    @property
    def path(self):
        return self._path

    @path.setter
    def path(self, path):
        self._path = path
        self.relative = bool(path) and not path.startswith("/")

    @property
    def username(self):
        return self.userinfo.split(":", 1)[0] if self.userinfo else ""

    @username.setter
    def username(self, username):
        password = self.password
        self.userinfo = username + (":%s" % password if password else "")

    @property
    def password(self):
        if ":" in self.userinfo:
            return self.userinfo.split(":", 1)[1]
        return ""

    @password.setter
    def password(self, password):
        self.userinfo = "%s:%s" % (self.username, password)


def decodeurl(url):
    """(scheme, host[:port], path, user, password, params) of a URL."""
    uri = URI(url)
    return uri.scheme, uri.hostport, uri.path or "/", uri.username, uri.password, uri.params


def encodeurl(decoded):
    """The URL of (scheme, host, path, user, password, params)."""
    scheme, host, path, user, password, params = decoded
    if not scheme:
        raise MissingParameterError("type", "encoded from the data %s" % str(decoded))
    uri = URI()
    uri.scheme = scheme
    if user and scheme != "file":
        uri.username = user
        if password:
            uri.password = password
    if host and scheme != "file":
        uri.hostname = host
    if path:
        while "//" in path:
            path = path.replace("//", "/")
        uri.path = path
        if scheme == "file":
            uri.relative = False
    if params:
        uri.params = params
    return str(uri)


def get_autorev(d):
    """SRCREV = "${AUTOREV}": marks the recipe as needing the latest revision."""
    d.setVar("__BBAUTOREV_SEEN", True)
    return "AUTOINC"



# I/O failures while fetching in this process: worth trying the task again.
_transient_failures = []


def had_transient_failure():
    """Whether a fetch in this process failed for a reason that may pass (an I/O error)."""
    return bool(_transient_failures)


def get_checksum_file_list(d):
    """`PATH:EXISTS` for every path searched for the local files of SRC_URI (FILESPATH up
    to where each was found): what do_fetch's signature hashes."""
    entries = []
    for url in (d.getVar("SRC_URI") or "").split():
        ud = FetchData(url, d)
        if isinstance(ud.method, Local):
            paths = ud.method.localfile_searchpaths(ud, d)
            found = False
            for path in paths:
                exists = os.path.exists(path)
                found = found or exists
                entries.append("%s:%s" % (path, exists))
            if not found:
                bb.fatal("Unable to get checksum for %s SRC_URI entry %s: file could not be found"
                         "\nThe following paths were searched:\n%s"
                         % (d.getVar("PN"), os.path.basename(ud.path), "\n".join(paths)))
    return " ".join(entries)


def _mirror_pairs(text):
    words = (text or "").replace("\\n", " ").split()
    return list(zip(words[0::2], words[1::2]))


def _checksums(ud, d):
    """The expected checksums of a URL: SRC_URI[NAME.TYPEsum] or, for the default name,
    SRC_URI[TYPEsum]."""
    found = {}
    for kind in ("sha256", "sha1", "md5", "sha384", "sha512"):
        value = ud.parm.get(kind + "sum")
        if value is None:
            flag = kind + "sum" if ud.name == "default" else "%s.%ssum" % (ud.name, kind)
            value = d.getVarFlag("SRC_URI", flag)
        if value:
            found[kind] = value
    return found


def verify_checksum(ud, d, path):
    import hashlib
    expected = _checksums(ud, d)
    if not expected:
        raise NoChecksumError("Missing SRC_URI checksum, please add SRC_URI[sha256sum] = \"%s\""
                              % _file_hash(path, hashlib.sha256()), ud.url)
    for kind, value in expected.items():
        actual = _file_hash(path, hashlib.new(kind))
        if actual != value:
            raise ChecksumError("Checksum mismatch!\nFile: '%s' has %s checksum '%s' when '%s' was expected"
                                % (path, kind, actual, value), ud.url, actual)


def _file_hash(path, hasher):
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            hasher.update(block)
    return hasher.hexdigest()


class Local(object):
    """file:// URLs: found on FILESPATH."""

    def supports(self, ud, d):
        return ud.type == "file"

    def urldata_init(self, ud, d):
        # The file is already local: no localfile, the path is searched on demand.
        ud.basename = os.path.basename(ud.path)
        ud.basepath = ud.path
        ud.needdonestamp = False
        if "*" in ud.path:
            raise ParameterError("file:// urls using globbing are no longer supported. Please place the files in a directory and reference that instead.", ud.url)

    def localfile_searchpaths(self, ud, d):
        if ud.path.startswith("/"):
            return [ud.path]
        filespath = d.getVar("FILESPATH")
        if not filespath:
            return []
        _, searched = bb.utils.which(filespath, ud.path, history=True)
        return searched

    def localpath(self, ud, d):
        return self.localfile_searchpaths(ud, d)[-1]


class Wget(object):
    """http(s)/ftp(s) URLs: downloaded into DL_DIR under their base name."""

    def supports(self, ud, d):
        return ud.type in ("http", "https", "ftp", "ftps")

    def urldata_init(self, ud, d):
        if ud.parm.get("protocol") == "git":
            raise ParameterError("Invalid protocol - if you wish to fetch from a git repository using http, you need to instead use the git:// prefix with protocol=http", ud.url)
        ud.basename = ud.parm.get("downloadfilename") or os.path.basename(ud.path)
        ud.localfile = ud.basename or ud.host + ud.path.replace("/", ".")

    def localpath(self, ud, d):
        return os.path.join(d.getVar("DL_DIR"), ud.localfile)


class Git(object):
    """git:// URLs (any protocol=): a bare clone in DL_DIR/git2/, made from a mirror
    tarball (`git2_HOST.PATH.tar.gz`, BitBake's BB_GENERATE_MIRROR_TARBALLS format) found
    in a local PREMIRRORS/MIRRORS directory; unpacked by cloning at SRCREV."""

    def supports(self, ud, d):
        return ud.type in ("git", "gitsm")

    def urldata_init(self, ud, d):
        name = (ud.host + ud.path).replace("/", ".").replace("*", ".").replace(" ", "_")
        if name.startswith("."):
            name = name[1:]
        ud.gitsrcname = name
        ud.basename = "git2_%s.tar.gz" % name
        ud.localfile = os.path.join("git2", name)
        srcrev_name = "SRCREV" if ud.name == "default" else "SRCREV_%s" % ud.name
        ud.revision = ud.parm.get("rev") or d.getVar(srcrev_name) or d.getVar("SRCREV")
        if not ud.revision or ud.revision in ("INVALID", "AUTOINC"):
            raise FetchError("Please set a valid SRCREV for url %s (a fixed revision: the "
                             "network is not used to find the latest)" % ud.url, ud.url)

    def localpath(self, ud, d):
        return os.path.join(d.getVar("DL_DIR"), ud.localfile)

    def has_revision(self, ud, clonedir):
        import subprocess
        return os.path.isdir(clonedir) and subprocess.run(
            ["git", "-C", clonedir, "cat-file", "-e", ud.revision + "^{commit}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


methods = [Local(), Wget(), Git()]


class FetchData(object):
    """What the fetcher knows of one URL before fetching it: its parts, parameters,
    method and local path."""

    def __init__(self, url, d, localonly=False):
        self.localfile = ""
        self.localpath = None
        self.basename = None
        self.basepath = None
        self.needdonestamp = True
        self.donestamp = None
        self.lockfile = None
        (self.type, self.host, self.path, self.user, self.pswd, self.parm) = decodeurl(d.expand(url))
        self.url = url
        if not self.user and "user" in self.parm:
            self.user = self.parm["user"]
        if not self.pswd and "pswd" in self.parm:
            self.pswd = self.parm["pswd"]
        self.name = self.parm.get("name", "default")
        if "," in self.name:
            raise ParameterError("The fetcher no longer supports multiple name parameters in a single url", self.url)
        self.method = next((m for m in methods if m.supports(self, d)), None)
        if not self.method:
            raise NoMethodError(url)
        if localonly and not isinstance(self.method, Local):
            raise NonLocalMethod()
        self.method.urldata_init(self, d)
        if "localpath" in self.parm:
            self.localpath = self.parm["localpath"]
            self.basename = os.path.basename(self.localpath)
        elif self.localfile:
            self.localpath = self.method.localpath(self, d)
        if not self.needdonestamp:
            return
        dldir = d.getVar("DL_DIR")
        if self.localpath and self.localpath.startswith(dldir):
            basepath = self.localpath
        elif self.localpath:
            basepath = dldir + os.sep + os.path.basename(self.localpath)
        else:
            basepath = dldir + os.sep + (self.basepath or self.basename)
        self.donestamp = basepath + ".done"
        self.lockfile = basepath + ".lock"

    def setup_localpath(self, d):
        if not self.localpath:
            self.localpath = self.method.localpath(self, d)


class Fetch(object):
    """The URLs of a recipe (SRC_URI when none are given) and where each is found locally.
    Downloading and unpacking are the executor's job and raise here."""

    def __init__(self, urls, d, cache=True, localonly=False, connection_cache=None):
        if localonly and cache:
            raise Exception("bb.fetch2.Fetch.__init__: cannot set cache and localonly at same time")
        if not urls:
            urls = (d.getVar("SRC_URI") or "").split()
        self.urls = urls
        self.d = d
        self.ud = {}
        for url in urls:
            self.ud[url] = FetchData(url, d, localonly)

    def localpath(self, url):
        if url not in self.urls:
            self.ud[url] = FetchData(url, self.d)
        self.ud[url].setup_localpath(self.d)
        return self.d.expand(self.ud[url].localpath)

    def localpaths(self):
        return [self.localpath(url) for url in self.urls]

    def _not_here(self, what):
        raise FetchError("%s is not implemented by Hitzeleiter's fetcher" % what)

    def download(self, urls=None):
        """Makes every URL available locally: file:// URLs must exist; others are copied
        into DL_DIR from a local PREMIRRORS/MIRRORS directory and their checksums
        verified."""
        import shutil
        d = self.d
        for url in urls or self.urls:
            ud = self.ud.get(url) or FetchData(url, d)
            if isinstance(ud.method, Local):
                path = ud.method.localpath(ud, d)
                if not os.path.exists(path):
                    searched = ud.method.localfile_searchpaths(ud, d)
                    raise FetchError("Unable to find file %s anywhere to download to %s. The paths that were searched were:\n    %s"
                                     % (url, d.getVar("DL_DIR"), "\n    ".join(searched)), url)
                continue
            dest = self.localpath(url)
            if isinstance(ud.method, Git):
                self._download_git(ud, dest)
                continue
            if os.path.exists(dest) and os.path.exists(dest + ".done"):
                try:
                    verify_checksum(ud, d, dest)
                    continue
                except ChecksumError as e:
                    # As BitBake's verify_donestamp: a stale download is fetched again.
                    bb.warn("Checksum mismatch for local file %s\nCleaning and trying again." % dest)
                    os.remove(dest + ".done")
            bb.utils.mkdirhier(os.path.dirname(dest))
            source = self._from_mirror(ud)
            partial = dest + ".tmp"
            try:
                shutil.copyfile(source, partial)
                verify_checksum(ud, d, partial)
                os.replace(partial, dest)
                open(dest + ".done", "w").close()
            except OSError as e:
                _transient_failures.append(url)
                raise FetchError("Copying %s from the mirror failed: %s" % (source, e), url)

    def _from_mirror(self, ud):
        """The first file for `ud` (named ud.basename) in a local PREMIRRORS/MIRRORS
        directory whose pattern matches its URL."""
        d = self.d
        tried = []
        for var in ("PREMIRRORS", "MIRRORS"):
            for pattern, replacement in _mirror_pairs(d.getVar(var)):
                if not re.match(pattern, ud.url.split(";")[0]):
                    continue
                mirror = URI(replacement)
                if mirror.scheme != "file":
                    tried.append(replacement)
                    continue
                source = mirror.path
                if replacement.endswith("/") or os.path.isdir(source):
                    source = os.path.join(source, ud.basename)
                tried.append(source)
                if os.path.exists(source):
                    return source
        if d.getVar("BB_NO_NETWORK") == "1":
            raise NetworkAccess(ud.url, "download (mirrors tried: %s)" % (", ".join(tried) or "none"))
        raise FetchError("Fetching over the network is not implemented; serve it from a "
                         "PREMIRRORS or MIRRORS directory (tried: %s)" % (", ".join(tried) or "none"), ud.url)

    def _download_git(self, ud, clonedir):
        """A bare clone holding SRCREV in DL_DIR/git2/, from a mirror tarball."""
        import shutil
        import subprocess
        if ud.method.has_revision(ud, clonedir):
            return
        tarball = self._from_mirror(ud)
        partial = clonedir + ".tmp"
        if os.path.exists(partial):
            shutil.rmtree(partial)
        bb.utils.mkdirhier(partial)
        result = subprocess.run(["tar", "-xzf", tarball, "-C", partial],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise FetchError("Unpacking the mirror tarball %s failed:\n%s"
                             % (tarball, result.stdout.decode(errors="replace")), ud.url)
        if os.path.exists(clonedir):
            shutil.rmtree(clonedir)
        os.replace(partial, clonedir)
        if not ud.method.has_revision(ud, clonedir):
            raise FetchError("The mirror tarball %s does not contain revision %s"
                             % (tarball, ud.revision), ud.url)

    def checkstatus(self, urls=None):
        self._not_here("checking URLs")

    def unpack(self, root, urls=None):
        """Copies files and extracts archives into `root` (under a URL's `subdir=`),
        as BitBake's unpack does."""
        import shutil
        import subprocess
        d = self.d
        for url in urls or self.urls:
            ud = self.ud.get(url) or FetchData(url, d)
            path = self.localpath(url)
            if isinstance(ud.method, Git):
                self._unpack_git(ud, path, root)
                continue
            destdir = os.path.join(root, ud.parm.get("subdir", ""))
            bb.utils.mkdirhier(destdir)
            base = os.path.basename(path)
            archive = ud.parm.get("unpack", "1") == "1"
            command = None
            if archive:
                for suffixes, option in (((".tar.gz", ".tgz"), "-z"), ((".tar.xz", ".txz"), "-J"),
                                         ((".tar.bz2", ".tbz2"), "-j"), ((".tar.zst",), "--zstd"),
                                         ((".tar",), "")):
                    if base.endswith(suffixes):
                        command = "tar -x %s --no-same-owner -f '%s' -C '%s'" % (option, path, destdir)
                        break
            if command:
                result = subprocess.run(command, shell=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
                if result.returncode != 0:
                    raise UnpackError("Unpack command %s failed with return value %s:\n%s"
                                      % (command, result.returncode,
                                         result.stdout.decode(errors="replace")), url)
                continue
            if isinstance(ud.method, Local) and not os.path.isabs(ud.path):
                # file://dir/name keeps its directories below the destination.
                target = os.path.join(destdir, ud.path)
            else:
                target = os.path.join(destdir, base)
            bb.utils.mkdirhier(os.path.dirname(target))
            if os.path.isdir(path):
                if os.path.exists(target):
                    shutil.rmtree(target)
                shutil.copytree(path, target, symlinks=True)
            else:
                shutil.copy2(path, target)

    def _unpack_git(self, ud, clonedir, root):
        """BitBake's git unpack: a shared clone of DL_DIR's bare clone in
        ROOT/DESTSUFFIX (default `git`), checked out at SRCREV."""
        import shutil
        import subprocess
        destdir = os.path.join(root, ud.parm.get("destsuffix", "git"))
        if os.path.exists(destdir):
            shutil.rmtree(destdir)
        for command in (["git", "clone", "-q", "-s", "-n", clonedir, destdir],
                        ["git", "-C", destdir, "checkout", "-q", ud.revision]):
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if result.returncode != 0:
                raise UnpackError("%s failed:\n%s" % (" ".join(command),
                                  result.stdout.decode(errors="replace")), ud.url)

    def clean(self, urls=None):
        self._not_here("cleaning downloads")
