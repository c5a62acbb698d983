"""Task signature generators, as classes that layers (openembedded-core's oe.sstatesig)
derive from and register through BB_SIGNATURE_HANDLER.

Hitzeleiter computes task signatures itself (bb-data's `Signatures` and the executor's
action keys); these classes carry what metadata reads from them at parse time (their
names, stamp file names, task data) and fail clearly for hashing calls that only
BitBake's runqueue makes."""
import hashlib

import bb


class SignatureGenerator(object):
    name = "noop"

    def __init__(self, data):
        self.basehash = {}
        self.taskhash = {}
        self.unihash = {}
        self.runtaskdeps = {}
        self.file_checksum_values = {}
        self.taints = {}
        self.unitaskhashes = {}
        self.tidtopn = {}
        self.setscenetasks = set()

    def finalise(self, fn, d, variant):
        return

    def postparsing_clean_cache(self):
        return

    def setup_datacache(self, datacaches):
        self.datacaches = datacaches

    def get_cached_unihash(self, tid):
        return None

    def get_unihash(self, tid):
        unihash = self.get_cached_unihash(tid)
        if unihash:
            return unihash
        return self.taskhash[tid]

    def get_unihashes(self, tids):
        return {tid: self.get_unihash(tid) for tid in tids}

    def prep_taskhash(self, tid, deps, dataCaches):
        return

    def get_taskhash(self, tid, deps, dataCaches):
        # The noop generator hashes only the task's identity, as BitBake's does.
        self.taskhash[tid] = hashlib.sha256(tid.encode("utf-8")).hexdigest()
        return self.taskhash[tid]

    def writeout_file_checksum_cache(self):
        return

    def stampfile_base(self, mcfn):
        mc = bb.runqueue.mc_from_tid(mcfn)
        return self.datacaches[mc].stamp[mcfn]

    def stampfile(self, stampbase, file_name, taskname, extrainfo):
        return ("%s.%s.%s" % (stampbase, taskname, extrainfo)).rstrip(".")

    def stampcleanmask(self, stampbase, file_name, taskname, extrainfo):
        return ("%s.%s.%s" % (stampbase, taskname, extrainfo)).rstrip(".")

    def dump_sigtask(self, mcfn, task, stampbase, runtime):
        return

    def invalidate_task(self, task, mcfn):
        return

    def dump_sigs(self, dataCache, options):
        return

    def get_taskdata(self):
        return (self.runtaskdeps, self.taskhash, self.unihash, self.file_checksum_values,
                self.taints, self.basehash, self.unitaskhashes, self.tidtopn, self.setscenetasks)

    def set_taskdata(self, data):
        (self.runtaskdeps, self.taskhash, self.unihash, self.file_checksum_values,
         self.taints, self.basehash, self.unitaskhashes, self.tidtopn, self.setscenetasks) = data

    def reset(self, data):
        self.__init__(data)

    def get_taskhashes(self):
        return self.taskhash, self.unihash, self.unitaskhashes, self.tidtopn

    def set_taskhashes(self, hashes):
        self.taskhash, self.unihash, self.unitaskhashes, self.tidtopn = hashes

    def save_unitaskhashes(self):
        return

    def set_setscene_tasks(self, setscene_tasks):
        self.setscenetasks = set(setscene_tasks)

    def exit(self):
        return


class SignatureGeneratorBasic(SignatureGenerator):
    name = "basic"

    def __init__(self, data):
        super().__init__(data)
        self.basehash_ignore_vars = set((data.getVar("BB_BASEHASH_IGNORE_VARS") or "").split())
        self.taskhash_ignore_tasks = None
        self.init_rundepcheck(data)

    def init_rundepcheck(self, data):
        self.taskhash_ignore_tasks = data.getVar("BB_TASKHASH_IGNORE_TASKS") or None

    def rundep_check(self, fn, recipename, task, dep, depname, dataCaches):
        return True

    def read_taint(self, fn, task, stampbase):
        return None

    def _unsupported(self, what):
        raise NotImplementedError(
            "%s: Hitzeleiter computes task signatures itself; BitBake's python signature "
            "generator is not available" % what)

    def prep_taskhash(self, tid, deps, dataCaches):
        self._unsupported("prep_taskhash")

    def get_taskhash(self, tid, deps, dataCaches):
        self._unsupported("get_taskhash")


class SignatureGeneratorBasicHash(SignatureGeneratorBasic):
    name = "basichash"

    def get_stampfile_hash(self, tid):
        if tid in self.taskhash:
            return self.taskhash[tid]
        return self.basehash[tid.rsplit(":", 1)[0] + ":" + tid.rsplit(":", 1)[1]]


class SignatureGeneratorUniHashMixIn(object):
    def __init__(self, data):
        self.extramethod = {}
        self.max_parallel = 1
        super().__init__(data)

    def get_taskdata(self):
        return (self.server, self.method, self.extramethod, self.username,
                self.password, self.env) + super().get_taskdata()

    def set_taskdata(self, data):
        self.server, self.method, self.extramethod, self.username, self.password, self.env = data[:6]
        super().set_taskdata(data[6:])


def init(d):
    """The generator named by BB_SIGNATURE_HANDLER among the subclasses defined so far."""
    wanted = d.getVar("BB_SIGNATURE_HANDLER") or "noop"
    found = {}

    def collect(cls):
        for sub in cls.__subclasses__():
            found.setdefault(getattr(sub, "name", None), sub)
            collect(sub)

    collect(SignatureGenerator)
    found.setdefault("noop", SignatureGenerator)
    if wanted not in found:
        bb.error("Invalid signature generator '%s', using default 'noop'\nAvailable generators: %s"
                 % (wanted, ", ".join(sorted(n for n in found if n))))
        wanted = "noop"
    return found[wanted](d)
