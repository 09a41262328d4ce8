package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// natsCluster is a JetStream cluster of real nats-server processes, each with its own ports
// and store, routed to each other.
type natsCluster struct {
	t                   *testing.T
	bin                 string
	ports, routes, dirs []string
	cmds                []*exec.Cmd
	outs                []*bytes.Buffer
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return p
}

func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t, bin: natsBinary(t), cmds: make([]*exec.Cmd, n), outs: make([]*bytes.Buffer, n)}
	for range n {
		c.ports, c.routes, c.dirs = append(c.ports, freePort(t)), append(c.routes, freePort(t)), append(c.dirs, t.TempDir())
	}
	for i := range n {
		var routes []string
		for j, p := range c.routes {
			if j != i {
				routes = append(routes, "nats://127.0.0.1:"+p)
			}
		}
		c.outs[i] = new(bytes.Buffer)
		cmd := exec.Command(c.bin, "-a", "127.0.0.1", "-p", c.ports[i], "-js", "-sd", c.dirs[i], "--server_name", fmt.Sprintf("n%d", i),
			"--cluster_name", "warden", "--cluster", "nats://127.0.0.1:"+c.routes[i], "--routes", strings.Join(routes, ","))
		cmd.Stdout, cmd.Stderr = c.outs[i], c.outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c.cmds[i] = cmd
	}
	t.Cleanup(func() {
		for i := range c.cmds {
			c.kill(i)
		}
	})
	return c
}

// kill SIGKILLs node i.
func (c *natsCluster) kill(i int) {
	if c.cmds[i] != nil && c.cmds[i].ProcessState == nil {
		_ = c.cmds[i].Process.Kill()
		_ = c.cmds[i].Wait()
	}
}

func (c *natsCluster) url() string {
	u := make([]string, len(c.ports))
	for i, p := range c.ports {
		u[i] = "nats://127.0.0.1:" + p
	}
	return strings.Join(u, ",")
}

// openClusterBus opens the bus with replicas 3 once the cluster has formed.
func openClusterBus(t *testing.T, c *natsCluster) *Bus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := Open(context.Background(), Options{URL: c.url(), Partitions: 4, Replicas: 3, LeaseTTL: 2 * time.Second, AckWait: 2 * time.Second, PublishTimeout: 5 * time.Second})
		if err == nil {
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster did not form: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestNodeLossResumes: on a 3-node cluster with replicas 3, SIGKILL the node that leads EVENTS
// (where the appender's consumer lives) while events stream in. Publishing pauses while the
// stream elects a new leader, the appender replaces its consumer and resumes after the last
// appended sequence without losing its lease, the partition owner carries on: every
// acknowledged event is appended exactly once and analysed exactly once.
func TestNodeLossResumes(t *testing.T) {
	c := startNATSCluster(t, 3)
	b := openClusterBus(t, c)
	dir := t.TempDir()
	log := openLog(t, filepath.Join(dir, "log"))
	defer log.Close()
	_, stopAppender := runAppender(t, b, log, dir, "a")
	defer stopAppender()
	rec := &ownership{by: map[int]string{}, n: map[int]int{}}
	runOwner(t, b, "w", rec.opener("w"))

	var mu sync.Mutex
	var acked []string
	published := map[string]bool{} // every id ever sent, acknowledged or not
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; ctx.Err() == nil; k++ {
			recs, models := records(fmt.Sprint("b", k), 0, 50)
			mu.Lock()
			for _, r := range recs {
				published[r.ID] = true
			}
			mu.Unlock()
			for ctx.Err() == nil { // a client re-sends what was not acknowledged
				if _, err := b.Publish(ctx, recs, models); err == nil {
					mu.Lock()
					for _, r := range recs {
						acked = append(acked, r.ID)
					}
					mu.Unlock()
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, "1,000 events acknowledged", 60*time.Second, func() bool { return count() >= 1000 })
	st, err := b.js.Stream(context.Background(), b.opts.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil || info.Cluster == nil {
		t.Fatalf("EVENTS stream info: %v %+v", err, info)
	}
	var leader int
	if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &leader); err != nil {
		t.Fatalf("EVENTS leader %q: %v", info.Cluster.Leader, err)
	}
	atKill := count()
	c.kill(leader)
	waitFor(t, "1,000 more events acknowledged after the kill", 90*time.Second, func() bool { return count() >= atKill+1000 })
	cancel()
	wg.Wait()
	n := count()
	waitFor(t, "every acknowledged event appended", 90*time.Second, func() bool {
		for _, id := range acked[n-50:] { // the last acknowledged batch
			if _, ok := log.Lookup(id); !ok {
				return false
			}
		}
		return true
	})
	for _, id := range acked {
		if _, ok := log.Lookup(id); !ok {
			t.Fatalf("acknowledged event %s is not in the log", id)
		}
	}
	// Exactly once: the log holds no more entries than distinct ids ever sent.
	if size := log.Size(); size < uint64(n) || size > uint64(len(published)) {
		t.Fatalf("log holds %d entries for %d acknowledged / %d distinct sent", size, n, len(published))
	}
	waitFor(t, "every appended entry analysed once", 90*time.Second, func() bool { return rec.total() == int(log.Size()) })
	// Acknowledgements lost with the node come back as redeliveries (indexed again, skipped by
	// the analysis): LOGGED empties.
	waitFor(t, "no worker lag", 90*time.Second, func() bool { lag, err := b.WorkerLag(context.Background()); return err == nil && lag == 0 })
	if n := rec.total(); n != int(log.Size()) {
		t.Fatalf("%d entries analysed for %d appended", n, log.Size())
	}
	t.Logf("killed n%d (EVENTS leader) after %d events; %d acknowledged, %d appended", leader, atKill, n, log.Size())
}

// TestConcurrentOpen: the processes of a cluster start together and each sets up the streams
// and buckets (create or update). On a 3-node cluster with replicas 3 a start could fail with
// "subjects overlap with an existing stream" while another process's setup was in flight (seen
// in the cmd/warden goal test); every one must open.
func TestConcurrentOpen(t *testing.T) {
	c := startNATSCluster(t, 3)
	openClusterBus(t, c) // the first process (the api's) creates everything
	for round := range 3 {
		errs := make(chan error, 6)
		for range cap(errs) {
			go func() {
				b, err := Open(context.Background(), Options{URL: c.url(), Partitions: 4, Replicas: 3, LeaseTTL: 2 * time.Second})
				if err == nil {
					_ = b.Close()
				}
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: open beside other processes: %v", round, err)
			}
		}
	}
}
