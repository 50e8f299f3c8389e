"""gdb support for weft programs.

    (gdb) source tools/gdb/weft.py
    (gdb) info weft-fibers              # every live fiber of every runtime (from the registry)
    (gdb) weft-fiber bt 17              # backtrace of fiber 17 (an id or a fiber name)

`info weft-fibers` walks the list of runtimes (`weft_runtime_list`) and each runtime's registry
shards from raw memory, with the field offsets the library publishes in `weft_debug_layout`
(lib/introspect/debug_layout.cpp): no debug info is needed, so it works on release and stripped builds,
live or on a core file. An installed libweft loads this file automatically (see README, "Using it
from your project").

`weft-fiber bt` unwinds a fiber that is not running from its saved Boost.Context context, on x86-64
and arm64. Where jump_fcontext keeps the frame pointer and the resume pc comes from the same table
(lib/platform/fcontext_layout.hpp is the one place that knows it), and so does whether the library
recognised this process's jump_fcontext: if it did not, this refuses. In a live process it
temporarily points the selected thread's stack pointer, frame pointer and pc at the fiber, runs
gdb's own `bt` (full DWARF unwinding, locals with `bt full`), and restores the registers; in a core
file (registers read-only) it walks frame pointers.
"""
import gdb

STATES = {0: "created", 1: "runnable", 2: "running", 3: "suspended", 4: "finished"}


def _u64(v):
    return int(v) & 0xFFFFFFFFFFFFFFFF


# Entries of weft_debug_layout, in the order of DebugLayoutIndex (lib/introspect/debug_layout.cpp).
LAYOUT_FIELDS = ["magic", "entries", "sched_next_runtime", "sched_shards", "shard_stride", "shard_head",
                 "shard_count", "fiber_id", "fiber_record", "fiber_name", "fiber_state", "fiber_ctx", "fiber_wait_what",
                 "fiber_wait_arg", "fiber_spawn_site", "fiber_stack_lo", "fiber_stack_size", "fiber_reg_next",
                 "waitdesc_what", "waitdesc_arg", "string_data", "string_size", "site_impl_file",
                 "site_impl_line", "ctx_known", "ctx_fp", "ctx_pc", "ctx_size"]
LAYOUT_MAGIC, LAYOUT_VERSION = 0x5745465400000000, 2
UNKNOWN = 0xFFFFFFFFFFFFFFFF


def _symbol_address(name):
    """The address of a data symbol, with or without debug info (an untyped symbol can still have
    its address taken), or None."""
    try:
        return _u64(gdb.parse_and_eval("(unsigned long)&'%s'" % name))
    except gdb.error:
        return None


def _read(addr, n):
    return bytes(gdb.selected_inferior().read_memory(addr, n))


def _u(addr, n=8):
    return int.from_bytes(_read(addr, n), "little")


def _cstr(addr, limit=512):
    if addr == 0:
        return ""
    try:
        return gdb.Value(addr).cast(gdb.lookup_type("char").pointer()).string()[:limit]
    except (gdb.error, gdb.MemoryError):
        return "?"


def layout():
    addr = _symbol_address("weft_debug_layout")
    if addr is None:
        raise gdb.GdbError("weft: no symbol weft_debug_layout (is this a weft program, and is libweft "
                           "loaded yet? weft before 0.1 has no layout table)")
    head = _u(addr)
    if head & ~0xFFFFFFFF != LAYOUT_MAGIC:
        raise gdb.GdbError("weft: weft_debug_layout is not initialised (the library has not run its "
                           "constructors yet) or is not weft's")
    if head & 0xFFFFFFFF != LAYOUT_VERSION:
        raise gdb.GdbError("weft: the program's weft_debug_layout is version %d, this weft.py reads "
                           "version %d: use the weft.py installed with that libweft"
                           % (head & 0xFFFFFFFF, LAYOUT_VERSION))
    n = _u(addr + 8)
    raw = _read(addr, 8 * min(n, len(LAYOUT_FIELDS)))
    return {f: int.from_bytes(raw[8 * i:8 * i + 8], "little") for i, f in enumerate(LAYOUT_FIELDS[:n])}


def runtimes(L):
    addr = _symbol_address("weft_runtime_list")
    if addr is None:
        raise gdb.GdbError("weft: no symbol weft_runtime_list (is this a weft program?)")
    s = _u(addr)
    while s != 0:
        yield s
        s = _u(s + L["sched_next_runtime"])


def fibers():
    L = layout()
    for rt in runtimes(L):
        for i in range(L["shard_count"]):
            f = _u(rt + L["sched_shards"] + i * L["shard_stride"] + L["shard_head"])
            while f != 0:
                yield L, f
                f = _u(f - L["fiber_record"] + L["fiber_reg_next"])


def _string(L, addr):
    """A std::string's contents at addr, through the layout the library found for it."""
    if L["string_data"] == UNKNOWN or L["string_size"] == UNKNOWN:
        return "?"
    n = _u(addr + L["string_size"])
    if n == 0:
        return ""
    return _read(_u(addr + L["string_data"]), min(n, 256)).decode("utf-8", "replace")


def describe(L, f):
    """A fiber's fields: its id from the FiberBase at f, the rest from the private record before it."""
    r = f - L["fiber_record"]
    d = {"id": _u(f + L["fiber_id"]), "name": _string(L, r + L["fiber_name"]),
         "state": STATES.get(_u(r + L["fiber_state"], 1), "?"), "ctx": _u(r + L["fiber_ctx"]), "wait": ""}
    w = _u(r + L["fiber_wait_what"])
    if d["state"] == "suspended" and w != 0:
        kind, arg = _u(w + L["waitdesc_arg"], 1), _u(r + L["fiber_wait_arg"])
        # WaitDesc::Arg: 0 none, 1 deadline (steady ns), 2 fiber id, 3 address, 4 fd, 5 count
        fmt = {0: "", 1: " (deadline %d ns)" % arg, 2: " %d" % arg, 3: " at 0x%x" % arg, 4: " (fd %d)" % arg,
               5: " %d operations" % arg}
        d["wait"] = _cstr(_u(w + L["waitdesc_what"])) + fmt.get(kind, " (arg %d)" % arg)
    impl = _u(r + L["fiber_spawn_site"])
    if impl != 0 and UNKNOWN not in (L["site_impl_file"], L["site_impl_line"]):
        d["site"] = "%s:%d" % (_cstr(_u(impl + L["site_impl_file"])), _u(impl + L["site_impl_line"], 4))
    d["stack_lo"], d["stack_size"] = _u(r + L["fiber_stack_lo"]), _u(r + L["fiber_stack_size"])
    return d


def find_fiber(key):
    for L, f in fibers():
        d = describe(L, f)
        if str(d["id"]) == key or d["name"] == key:
            return f, d
    raise gdb.GdbError("weft: no live fiber with id or name '%s' (see `info weft-fibers`)" % key)


# The registers a saved context restores, by gdb's architecture name.
REGISTERS = {"i386:x86-64": ("rsp", "rbp"), "aarch64": ("sp", "x29")}


def context_registers(L):
    """(stack pointer, frame pointer) register names, after checking that the library knows this
    process's context layout; refuses otherwise (unwinding an unknown layout would print garbage)."""
    if not L["ctx_known"]:
        raise gdb.GdbError("weft: the library did not recognise this jump_fcontext's saved-context layout "
                           "(lib/platform/fcontext_layout.hpp); refusing to unwind")
    arch = gdb.selected_inferior().architecture().name()
    if arch not in REGISTERS:
        raise gdb.GdbError("weft: no register names for architecture %s; refusing to unwind" % arch)
    return REGISTERS[arch]


class InfoWeftFibers(gdb.Command):
    """List every live weft fiber: id, name, state, what it waits on, spawn site."""

    def __init__(self):
        super().__init__("info weft-fibers", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        n = 0
        for L, f in fibers():
            d = describe(L, f)
            n += 1
            name = (" '%s'" % d["name"]) if d["name"] else ""
            wait = ("  waiting on: " + d["wait"]) if d["wait"] else ""
            print("fiber %d%s [%s]%s  spawned at %s  ctx 0x%x" % (d["id"], name, d["state"], wait, d.get("site", "?"), d["ctx"]))
        print("%d live fiber(s)" % n)


class WeftFiber(gdb.Command):
    """weft-fiber bt ID|NAME [full] — backtrace of a weft fiber that is not running."""

    def __init__(self):
        super().__init__("weft-fiber", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        if len(argv) < 2 or argv[0] != "bt":
            raise gdb.GdbError("usage: weft-fiber bt ID|NAME [full]")
        f, d = find_fiber(argv[1])
        if d["state"] not in ("suspended", "runnable") or d["ctx"] == 0:
            raise gdb.GdbError("weft: fiber %d is %s; only a suspended or runnable fiber has a saved context "
                               "(a running one is on a thread: use `thread apply all bt`)" % (d["id"], d["state"]))
        L = layout()
        sp_reg, fp_reg = context_registers(L)
        inf = gdb.selected_inferior()
        ctx = d["ctx"]
        fp = int.from_bytes(bytes(inf.read_memory(ctx + L["ctx_fp"], 8)), "little")
        pc = int.from_bytes(bytes(inf.read_memory(ctx + L["ctx_pc"], 8)), "little")
        sp = ctx + L["ctx_size"]
        print("fiber %d '%s' [%s], saved context 0x%x (pc 0x%x, sp 0x%x, fp 0x%x)" % (d["id"], d["name"], d["state"], ctx, pc, sp, fp))
        full = " full" if len(argv) > 2 and argv[2] == "full" else ""
        gdb.execute("select-frame 0")
        regs = (sp_reg, fp_reg, "pc")
        saved = {r: _u64(gdb.parse_and_eval("$" + r)) for r in regs}
        try:
            for r, v in zip(regs, (sp, fp, pc)):
                gdb.execute("set $%s = 0x%x" % (r, v))
        except gdb.error:
            self.walk_frame_pointers(inf, pc, fp, d)
            return
        try:
            gdb.execute("bt" + full)
        finally:
            for r in reversed(regs):
                gdb.execute("set $%s = 0x%x" % (r, saved[r]))
            gdb.execute("select-frame 0")

    @staticmethod
    def walk_frame_pointers(inf, pc, fp, d):
        lo, hi = d["stack_lo"], d["stack_lo"] + d["stack_size"]
        frames = [pc]
        while lo <= fp and fp + 16 <= hi and len(frames) < 64:
            ret = int.from_bytes(bytes(inf.read_memory(fp + 8, 8)), "little")
            if ret == 0:
                break
            frames.append(ret)
            nfp = int.from_bytes(bytes(inf.read_memory(fp, 8)), "little")
            if nfp <= fp:
                break
            fp = nfp
        for i, p in enumerate(frames):
            q = p if i == 0 else p - 1
            sal = gdb.find_pc_line(q)
            blk = None
            try:
                blk = gdb.block_for_pc(q)
            except RuntimeError:
                pass
            fn = blk.function.print_name if blk is not None and blk.function is not None else \
                gdb.execute("info symbol 0x%x" % q, to_string=True).strip()
            where = (" at %s:%d" % (sal.symtab.filename, sal.line)) if sal.symtab else ""
            print("#%-2d 0x%016x in %s%s" % (i, p, fn, where))


InfoWeftFibers()
WeftFiber()
print("weft gdb support loaded: info weft-fibers, weft-fiber bt ID|NAME")
