// go_bench: the Go peer of doc/bench.md ("peer":"go").
//
//	go_bench <bench> [--key value]...   # one workload, JSON lines on stdout
//	go_bench echo_server --port P       # the `echo` server, until SIGTERM
//	go_bench list                       # the workloads implemented here
//
// Built by bench/run with `go build -o <builddir>/bench/go_bench bench/go/main.go`
// (no module, standard library only). Optional: nothing in the tests or CI needs it.
//
// The runtime (§1.1): GOMAXPROCS=2, set before any timing; the main goroutine is the
// root task. A "handle" (spawn_join, idle_memory) is a per-task channel of capacity 1
// that receives the task's result: Go has no join handle, and a channel is what a Go
// program would keep to join one goroutine and get its value. Joins of many tasks with
// no value (yield_many, ping_pong, mutex_contended) use one sync.WaitGroup.
//
// No ctx_switch: it is the raw Boost.Context switch, defined for the fiber peers only.
package main

import (
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	exitFailed = 1 // the workload ran but its result was wrong
	exitUsage  = 2 // the command line was wrong
)

func die(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(code)
}

// args is `<bench> [--key value | --key=value]...`; every flag is looked up by the
// workload that owns it, and one that never is (a typo) is an error, as in
// bench_common.hpp, so a mistyped flag cannot produce a plausible wrong number.
type args struct {
	bench string
	flags map[string]string
	used  map[string]bool
}

func parseArgs() *args {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		die(exitUsage, "usage: %s <bench> [--key value]...", os.Args[0])
	}
	a := &args{bench: os.Args[1], flags: map[string]string{}, used: map[string]bool{}}
	rest := os.Args[2:]
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		if len(arg) < 3 || !strings.HasPrefix(arg, "--") {
			die(exitUsage, "go_bench %s: expected a flag like --n, got '%s'", a.bench, arg)
		}
		key, value, found := strings.Cut(arg[2:], "=")
		if !found {
			if i+1 >= len(rest) {
				die(exitUsage, "go_bench %s: flag --%s needs a value", a.bench, key)
			}
			i++
			value = rest[i]
		}
		if _, dup := a.flags[key]; dup {
			die(exitUsage, "go_bench %s: flag --%s given twice", a.bench, key)
		}
		a.flags[key] = value
	}
	return a
}

func (a *args) integer(key string, def, min int64) int64 {
	a.used[key] = true
	text, ok := a.flags[key]
	if !ok {
		return def
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		die(exitUsage, "go_bench %s: --%s expects an integer, got '%s'", a.bench, key, text)
	}
	if v < min {
		die(exitUsage, "go_bench %s: --%s must be >= %d, got %d", a.bench, key, min, v)
	}
	return v
}

func (a *args) rejectUnknown() {
	for key := range a.flags {
		if !a.used[key] {
			die(exitUsage, "go_bench %s: unknown flag --%s", a.bench, key)
		}
	}
}

type reps struct{ warmup, reps int }

func repsFrom(a *args) reps {
	return reps{int(a.integer("warmup", 1, 0)), int(a.integer("reps", 5, 1))}
}

// runReps runs the discarded warm-up repetitions, then the measured ones; fn performs
// one whole repetition and returns its per-operation value.
func runReps(r reps, fn func() float64) []float64 {
	for i := 0; i < r.warmup; i++ {
		fn()
	}
	samples := make([]float64, 0, r.reps)
	for i := 0; i < r.reps; i++ {
		samples = append(samples, fn())
	}
	return samples
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func jsonNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "null"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// emit prints one result line (§1.2) and nothing else on stdout.
func emit(bench string, n uint64, samples []float64, unit, note string) {
	parts := make([]string, len(samples))
	for i, s := range samples {
		parts[i] = jsonNumber(s)
	}
	fmt.Printf("{\"peer\":\"go\",\"bench\":%s,\"n\":%d,\"median\":%s,\"unit\":%s,\"samples\":[%s],\"note\":%s}\n",
		strconv.Quote(bench), n, jsonNumber(median(samples)), strconv.Quote(unit),
		strings.Join(parts, ","), strconv.Quote(note))
}

func perOp(t0 time.Time, n uint64) float64 {
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func spawnMany(a *args, r reps) {
	n := uint64(a.integer("n", 100000, 1))
	a.rejectUnknown()
	samples := runReps(r, func() float64 {
		var count atomic.Uint64
		done := make(chan struct{}, 1)
		t0 := time.Now()
		for i := uint64(0); i < n; i++ {
			go func() {
				if count.Add(1) == n {
					done <- struct{}{}
				}
			}()
		}
		<-done
		v := perOp(t0, n)
		if count.Load() != n {
			die(exitFailed, "spawn_many: count %d, expected %d", count.Load(), n)
		}
		return v
	})
	emit(a.bench, n, samples, "ns/task", "goroutines, the last one sends on a chan struct{} (cap 1)")
}

func spawnJoin(a *args, r reps) {
	n := uint64(a.integer("n", 100000, 1))
	a.rejectUnknown()
	samples := runReps(r, func() float64 {
		t0 := time.Now()
		handles := make([]chan uint64, n)
		for i := uint64(0); i < n; i++ {
			h := make(chan uint64, 1)
			handles[i] = h
			go func(i uint64) { h <- i }(i)
		}
		var sum uint64
		for _, h := range handles {
			sum += <-h
		}
		v := perOp(t0, n)
		if sum != n*(n-1)/2 {
			die(exitFailed, "spawn_join: sum %d, expected %d", sum, n*(n-1)/2)
		}
		return v
	})
	emit(a.bench, n, samples, "ns/task", "handle = per-task chan uint64 (cap 1), received in spawn order")
}

// chainLink is task d of a chain: it starts task d+1 and returns without waiting.
func chainLink(d, depth uint64, done chan uint64) {
	if d == depth {
		done <- d
		return
	}
	go chainLink(d+1, depth, done)
}

func chainedSpawn(a *args, r reps) {
	depth := uint64(a.integer("depth", 1000, 1))
	chains := uint64(a.integer("chains", 100, 1))
	a.rejectUnknown()
	samples := runReps(r, func() float64 {
		done := make(chan uint64, 1)
		t0 := time.Now()
		for c := uint64(0); c < chains; c++ {
			go chainLink(1, depth, done)
			if last := <-done; last != depth {
				die(exitFailed, "chained_spawn: chain %d ended at depth %d, expected %d", c, last, depth)
			}
		}
		return perOp(t0, depth*chains)
	})
	emit(a.bench, depth*chains, samples, "ns/spawn", "goroutines, the last of a chain sends on a chan (cap 1)")
}

func yieldMany(a *args, r reps) {
	tasks := uint64(a.integer("tasks", 200, 1))
	yields := uint64(a.integer("yields", 1000, 1))
	a.rejectUnknown()
	samples := runReps(r, func() float64 {
		var total atomic.Uint64
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(int(tasks))
		for i := uint64(0); i < tasks; i++ {
			go func() {
				for y := uint64(0); y < yields; y++ {
					runtime.Gosched()
				}
				total.Add(yields)
				wg.Done()
			}()
		}
		wg.Wait()
		v := perOp(t0, tasks*yields)
		if total.Load() != tasks*yields {
			die(exitFailed, "yield_many: %d yields, expected %d", total.Load(), tasks*yields)
		}
		return v
	})
	emit(a.bench, tasks*yields, samples, "ns/yield", "runtime.Gosched, joined with a sync.WaitGroup")
}

func pingPong(a *args, r reps) {
	pairs := uint64(a.integer("pairs", 100, 1))
	rounds := uint64(a.integer("rounds", 1000, 1))
	a.rejectUnknown()
	samples := runReps(r, func() float64 {
		var completed atomic.Uint64
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(int(2 * pairs))
		for p := uint64(0); p < pairs; p++ {
			c1 := make(chan uint64, 1) // A -> B
			c2 := make(chan uint64, 1) // B -> A
			// A
			go func() {
				defer wg.Done()
				for i := uint64(0); i < rounds; i++ {
					c1 <- i
					if back := <-c2; back != i {
						die(exitFailed, "ping_pong: round %d came back as %d", i, back)
					}
				}
				completed.Add(rounds)
			}()
			// B
			go func() {
				defer wg.Done()
				for i := uint64(0); i < rounds; i++ {
					c2 <- <-c1
				}
			}()
		}
		wg.Wait()
		v := perOp(t0, pairs*rounds)
		if completed.Load() != pairs*rounds {
			die(exitFailed, "ping_pong: %d round trips, expected %d", completed.Load(), pairs*rounds)
		}
		return v
	})
	emit(a.bench, pairs*rounds, samples, "ns/roundtrip", "two chan uint64 of capacity 1 per pair")
}

func mutexContended(a *args, r reps) {
	tasks := uint64(a.integer("tasks", 1000, 1))
	locks := uint64(a.integer("locks", 1000, 1))
	a.rejectUnknown()
	samples := runReps(r, func() float64 {
		var mu sync.Mutex
		var counter uint64 // guarded by mu
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(int(tasks))
		for t := uint64(0); t < tasks; t++ {
			go func() {
				defer wg.Done()
				for i := uint64(0); i < locks; i++ {
					mu.Lock()
					counter++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		v := perOp(t0, tasks*locks)
		if counter != tasks*locks {
			die(exitFailed, "mutex_contended: counter %d, expected %d", counter, tasks*locks)
		}
		return v
	})
	emit(a.bench, tasks*locks, samples, "ns/lock", "sync.Mutex (parks the goroutine after a short spin)")
}

func sleepMany(a *args, r reps) {
	n := uint64(a.integer("n", 100000, 1))
	sleepMs := a.integer("sleep-ms", 10, 0)
	a.rejectUnknown()
	d := time.Duration(sleepMs) * time.Millisecond
	samples := runReps(r, func() float64 {
		var count atomic.Uint64
		done := make(chan struct{}, 1)
		t0 := time.Now()
		for i := uint64(0); i < n; i++ {
			go func() {
				time.Sleep(d)
				if count.Add(1) == n {
					done <- struct{}{}
				}
			}()
		}
		<-done
		wall := float64(time.Since(t0).Nanoseconds())
		if count.Load() != n {
			die(exitFailed, "sleep_many: count %d, expected %d", count.Load(), n)
		}
		return (wall - float64(d.Nanoseconds())) / float64(n)
	})
	emit(a.bench, n, samples, "ns/task", "time.Sleep")
}

// vmRSS is VmRSS from /proc/self/status in bytes (the source the spec fixes).
func vmRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		die(exitFailed, "cannot read /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			rest := line[len("VmRSS:"):]
			kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				die(exitFailed, "bad VmRSS line %q", line)
			}
			return kib * 1024
		}
	}
	die(exitFailed, "no VmRSS line in /proc/self/status")
	return 0
}

func idleMemory(a *args, r reps) {
	n := uint64(a.integer("n", 100000, 1))
	a.rejectUnknown()
	base := vmRSS()
	var peak uint64
	samples := runReps(r, func() float64 {
		var ready, released atomic.Uint64
		allBlocked := make(chan struct{}, 1)
		// The root keeps the N senders and N handles, as the spec asks.
		senders := make([]chan uint32, n)
		handles := make([]chan struct{}, n)
		for i := uint64(0); i < n; i++ {
			rx := make(chan uint32, 1)
			h := make(chan struct{}, 1)
			senders[i], handles[i] = rx, h
			go func() {
				if ready.Add(1) == n {
					allBlocked <- struct{}{}
				}
				if <-rx == 7 {
					released.Add(1)
				}
				h <- struct{}{}
			}()
		}
		<-allBlocked
		rss := vmRSS()
		if rss > peak {
			peak = rss
		}
		for _, tx := range senders {
			tx <- 7
		}
		for _, h := range handles {
			<-h
		}
		if released.Load() != n {
			die(exitFailed, "idle_memory: %d tasks released, expected %d", released.Load(), n)
		}
		return (float64(rss) - float64(base)) / float64(n)
	})
	emit(a.bench, n, samples, "bytes/task", fmt.Sprintf(
		"each goroutine blocked on its own chan uint32 (cap 1); handle = chan struct{} (cap 1); "+
			"base VmRSS %.1f MiB, peak %.1f MiB", float64(base)/(1<<20), float64(peak)/(1<<20)))
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleCPU is not a doc/bench.md workload: the "an idle runtime uses ~0 % CPU".
func idleCPU(a *args, r reps) {
	seconds := a.integer("seconds", 5, 1)
	a.rejectUnknown()
	samples := runReps(r, func() float64 {
		c0, t0 := processCPU(), time.Now()
		time.Sleep(time.Duration(seconds) * time.Second)
		return 100 * float64(processCPU()-c0) / float64(time.Since(t0))
	})
	emit(a.bench, uint64(seconds), samples, "% of a core",
		"process CPU (getrusage) while the main goroutine sleeps; n = seconds per sample")
}

func serveConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a reset: this connection is over, the server is not
			return
		}
	}
}

// echoServer serves 127.0.0.1:P (§1.3 echo) until SIGTERM or SIGINT, then exits 0.
func echoServer(a *args) {
	port := a.integer("port", 0, 1)
	a.rejectUnknown()
	if port > 65535 {
		die(exitUsage, "go_bench echo_server: --port %d is not a TCP port", port)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		die(exitFailed, "go_bench echo_server: %v", err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed at shutdown
			}
			// Go sets TCP_NODELAY on new connections already; say it anyway, as the spec asks.
			c.(*net.TCPConn).SetNoDelay(true)
			go serveConn(c)
		}
	}()
	<-stop
	l.Close()
	os.Exit(0)
}

var workloads = []struct {
	name string
	run  func(*args, reps)
}{
	{"spawn_many", spawnMany}, {"spawn_join", spawnJoin}, {"chained_spawn", chainedSpawn},
	{"yield_many", yieldMany}, {"ping_pong", pingPong}, {"mutex_contended", mutexContended},
	{"sleep_many", sleepMany}, {"idle_memory", idleMemory}, {"idle_cpu", idleCPU},
}

func main() {
	// Two workers, before anything is timed (§1.1); the environment cannot override it.
	runtime.GOMAXPROCS(2)
	a := parseArgs()
	switch a.bench {
	case "list":
		for _, w := range workloads {
			fmt.Println(w.name)
		}
		fmt.Println("echo")
		return
	case "echo_server":
		echoServer(a)
		return
	}
	for _, w := range workloads {
		if w.name == a.bench {
			w.run(a, repsFrom(a))
			return
		}
	}
	names := []string{"echo_server"}
	for _, w := range workloads {
		names = append(names, w.name)
	}
	die(exitUsage, "go_bench: unknown bench '%s' (implemented: %s)", a.bench, strings.Join(names, " "))
}
