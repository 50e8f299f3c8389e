"""gdb support for weft programs.

    (gdb) source tools/gdb/weft.py
    (gdb) info weft-fibers              # every live fiber of every runtime (from the registry)
    (gdb) weft-fiber bt 17              # backtrace of fiber 17 (an id or a fiber name)

`info weft-fibers` walks the list of runtimes (`weft_runtime_list`) and each runtime's registry
shards; it needs weft's types in the debug info (build with -g: debugoptimized or debug builds).
`weft-fiber bt` unwinds a fiber that is not running from its saved Boost.Context context. It checks
that jump_fcontext has the x86-64 layout of Boost 1.74 (ctx+0x30 rbp, ctx+0x38 pc, sp = ctx+0x40)
and refuses otherwise. In a live process it temporarily points the selected thread's
$rsp/$rbp/$pc at the fiber, runs gdb's own `bt` (full DWARF unwinding, locals with `bt full`),
and restores the registers; in a core file (registers read-only) it walks frame pointers.
"""
import gdb

KSHARDS = 16
STATES = {0: "created", 1: "runnable", 2: "running", 3: "suspended", 4: "finished"}
JUMP_LEA = bytes([0x48, 0x8D, 0x64, 0x24, 0xC8])       # lea -0x38(%rsp),%rsp
JUMP_SAVE_RBP = bytes([0x48, 0x89, 0x6C, 0x24, 0x30])  # mov %rbp,0x30(%rsp)
JUMP_LOAD_PC = bytes([0x4C, 0x8B, 0x44, 0x24, 0x38])   # mov 0x38(%rsp),%r8


def _u64(v):
    return int(v) & 0xFFFFFFFFFFFFFFFF


def _string(v):
    """A std::string's contents, without relying on pretty printers."""
    try:
        p = v["_M_dataplus"]["_M_p"]
        n = int(v["_M_string_length"])
        return p.string(length=n) if n else ""
    except gdb.error:
        return str(v)


def _atomic(v):
    try:
        return int(v["_M_i"])
    except gdb.error:
        return int(v)


def runtimes():
    try:
        s = gdb.parse_and_eval("weft_runtime_list")
    except gdb.error:
        raise gdb.GdbError("weft: no symbol weft_runtime_list (is this a weft program?)")
    try:
        t = gdb.lookup_type("weft::detail::Scheduler").pointer()
    except gdb.error:
        raise gdb.GdbError("weft: no debug info for weft::detail::Scheduler; build weft and the program with -g")
    s = s.cast(t)
    while _u64(s) != 0:
        yield s
        s = s["next_runtime_"]


def fibers():
    for rt in runtimes():
        shards = rt["shards_"]
        for i in range(KSHARDS):
            f = shards[i]["head"]
            while _u64(f) != 0:
                yield rt, f
                f = f["reg_next_"]


def describe(f):
    d = {"id": int(f["id_"]), "name": _string(f["name_"]), "state": STATES.get(_atomic(f["state_"]), "?"),
         "ctx": _u64(f["ctx_"]), "wait": ""}
    w = f["wait_what_"]
    if d["state"] == "suspended" and _u64(w) != 0:
        kind, arg = int(w["arg"]), _u64(f["wait_arg_"])
        # WaitDesc::Arg: 0 none, 1 deadline (steady ns), 2 fiber id, 3 address, 4 fd, 5 count
        fmt = {0: "", 1: " (deadline %d ns)" % arg, 2: " %d" % arg, 3: " at 0x%x" % arg, 4: " (fd %d)" % arg,
               5: " %d operations" % arg}
        d["wait"] = w["what"].string() + fmt.get(kind, " (arg %d)" % arg)
    try:
        impl = f["spawn_site_"]["_M_impl"]
        if _u64(impl) != 0:
            d["site"] = "%s:%d" % (impl["_M_file_name"].string(), int(impl["_M_line"]))
    except gdb.error:
        d["site"] = "?"
    st = f["stack_"]
    d["stack_lo"], d["stack_size"] = _u64(st["lo"]), int(st["size"])
    return d


def find_fiber(key):
    for rt, f in fibers():
        d = describe(f)
        if str(d["id"]) == key or d["name"] == key:
            return f, d
    raise gdb.GdbError("weft: no live fiber with id or name '%s' (see `info weft-fibers`)" % key)


def check_layout():
    try:
        addr = _u64(gdb.parse_and_eval("(unsigned long)&jump_fcontext"))
    except gdb.error:
        try:
            addr = _u64(gdb.parse_and_eval("(unsigned long)&'boost::context::detail::jump_fcontext'"))
        except gdb.error:
            raise gdb.GdbError("weft: cannot find jump_fcontext; refusing to unwind an unknown context layout")
    code = bytes(gdb.selected_inferior().read_memory(addr, 64))
    if code[:4] == bytes([0xF3, 0x0F, 0x1E, 0xFA]):
        code = code[4:]
    if code[0:5] != JUMP_LEA or code[38:43] != JUMP_SAVE_RBP or code[49:54] != JUMP_LOAD_PC:
        raise gdb.GdbError("weft: jump_fcontext does not have the Boost.Context 1.74 x86-64 layout "
                           "(rbp at ctx+0x30, pc at ctx+0x38); refusing to unwind")


class InfoWeftFibers(gdb.Command):
    """List every live weft fiber: id, name, state, what it waits on, spawn site."""

    def __init__(self):
        super().__init__("info weft-fibers", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        n = 0
        for rt, f in fibers():
            d = describe(f)
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
        check_layout()
        inf = gdb.selected_inferior()
        ctx = d["ctx"]
        rbp = int.from_bytes(bytes(inf.read_memory(ctx + 0x30, 8)), "little")
        pc = int.from_bytes(bytes(inf.read_memory(ctx + 0x38, 8)), "little")
        sp = ctx + 0x40
        print("fiber %d '%s' [%s], saved context 0x%x (pc 0x%x, sp 0x%x, rbp 0x%x)" % (d["id"], d["name"], d["state"], ctx, pc, sp, rbp))
        full = " full" if len(argv) > 2 and argv[2] == "full" else ""
        gdb.execute("select-frame 0")
        saved = {r: _u64(gdb.parse_and_eval("$" + r)) for r in ("rsp", "rbp", "pc")}
        try:
            gdb.execute("set $rsp = 0x%x" % sp)
            gdb.execute("set $rbp = 0x%x" % rbp)
            gdb.execute("set $pc = 0x%x" % pc)
        except gdb.error:
            self.walk_frame_pointers(inf, pc, rbp, d)
            return
        try:
            gdb.execute("bt" + full)
        finally:
            gdb.execute("set $pc = 0x%x" % saved["pc"])
            gdb.execute("set $rbp = 0x%x" % saved["rbp"])
            gdb.execute("set $rsp = 0x%x" % saved["rsp"])
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
