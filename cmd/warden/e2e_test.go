package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wardenBin is the binary built once for the end-to-end tests.
var wardenBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "warden-e2e")
	if err != nil {
		panic(err)
	}
	wardenBin = filepath.Join(dir, "warden")
	cmd := exec.Command("go", "build", "-o", wardenBin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build warden: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running warden process.
type server struct {
	cmd         *exec.Cmd
	addr, gw    string
	admin, ingt string
	data        string
	stderr      *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `warden serve` (or another serving subcommand) on loopback ports the kernel
// picks (:0) and reads the bound addresses from the binary's start-up lines, so a port cannot be
// taken by another process between choosing and binding it.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	s := &server{data: data, stderr: new(bytes.Buffer)}
	args := append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"}, extra...)
	s.cmd = exec.Command(wardenBin, args...)
	s.cmd.Env = append(os.Environ(), "WARDEN_ADMIN_TOKEN=", "WARDEN_INGEST_TOKEN=")
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			_ = s.cmd.Wait()
		}
	})
	addrs := make(chan [2]string, 1)
	go func() {
		var a [2]string
		sent := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(line, "API:"); ok && a[0] == "" {
				a[0] = strings.TrimPrefix(strings.TrimSpace(v), "http://")
			}
			if v, ok := strings.CutPrefix(line, "Gateway:"); ok && a[1] == "" {
				v = strings.TrimPrefix(strings.TrimSpace(v), "http://")
				a[1], _, _ = strings.Cut(v, "/")
			}
			if strings.HasPrefix(line, "Tokens:") && !sent {
				addrs <- a
				sent = true
			}
		}
		if !sent { // the process ended before it was running
			addrs <- a
		}
	}()
	select {
	case a := <-addrs:
		s.addr, s.gw = a[0], a[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("server printed no addresses within 30 s\n%s", s.stderr)
	}
	if s.addr == "" {
		t.Fatalf("server printed no API address\n%s", s.stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready: %v\n%s", err, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	creds, err := os.ReadFile(filepath.Join(data, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(creds), "\n") {
		if v, ok := strings.CutPrefix(line, "WARDEN_ADMIN_TOKEN="); ok {
			s.admin = v
		}
		if v, ok := strings.CutPrefix(line, "WARDEN_INGEST_TOKEN="); ok {
			s.ingt = v
		}
	}
	return s
}

func (s *server) do(t *testing.T, method, path, token string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("server exit: %v\n%s", err, s.stderr)
	}
}

// runCLI runs the binary and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(wardenBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func ndjson(prefix string, from, n int) []byte {
	var b bytes.Buffer
	text := strings.Repeat("lorem ipsum dolor sit amet ", 37) // ~1 KB
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, `{"id":"%s-%d","type":"inference","time":"2026-11-20T10:%02d:%02dZ","model":{"name":"bot-%d"},"actor":{"user":"user-%d"},"request":{"input":%q},"response":{"output":"fine","latency_ms":12}}`+"\n",
			prefix, i, (i/60)%60, i%60, i%3, i%7, text)
	}
	return b.Bytes()
}

// TestCrashDurability kills the server with SIGKILL while clients stream events at full speed,
// restarts it, and checks that every event that got 202 is provable and the log verifies.
func TestCrashDurability(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	var (
		mu    sync.Mutex
		acked []string
		sent  atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+s.addr+"/v1/events", bytes.NewReader(ndjson(fmt.Sprintf("c%d-b%d", c, i), 0, 100)))
				req.Header.Set("Authorization", "Bearer "+s.ingt)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server died
				}
				var out struct{ IDs []string }
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					if err := json.Unmarshal(body, &out); err == nil {
						mu.Lock()
						acked = append(acked, out.IDs...)
						mu.Unlock()
						sent.Add(int64(len(out.IDs)))
					}
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()
	cancel()
	wg.Wait()
	if len(acked) < 1000 {
		t.Fatalf("only %d events acknowledged before the kill; the test needs load", len(acked))
	}
	t.Logf("%d events acknowledged before SIGKILL", len(acked))

	s2 := startServer(t, data)
	for i, id := range acked {
		if i%50 != 0 && i != len(acked)-1 { // every 50th plus the last: proofs are checked in full by audit verify
			continue
		}
		code, body := s2.do(t, "GET", "/v1/audit/proof/"+id, s2.admin, nil)
		if code != 200 {
			t.Fatalf("acknowledged event %s has no proof after restart: %d %s", id, code, body)
		}
	}
	s2.stop(t)
	code, out, errOut := runCLI(t, "audit", "verify", "--data", data)
	if code != 0 {
		t.Fatalf("audit verify after crash: exit %d\n%s%s", code, out, errOut)
	}
	var entries int
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "entries:"); ok {
			fmt.Sscan(strings.TrimSpace(v), &entries)
		}
	}
	if entries < len(acked) {
		t.Fatalf("log holds %d entries, but %d were acknowledged", entries, len(acked))
	}
}

// TestServeEndToEnd covers what is particular to one `all` process: its generated credentials
// and the local index rebuilt from the log. The API contract of the main path (auth,
// all-or-nothing batches naming index and field, 413, idempotent ids, search, proofs, evidence,
// audit verify, file modes) runs against both topologies in TestMainPath.
func TestServeEndToEnd(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	st, err := os.Stat(data)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v", st.Mode())
	}
	if st, err := os.Stat(filepath.Join(data, "credentials")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials mode %v", st.Mode())
	}
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("ok", 0, 30))); code != 202 || !strings.Contains(string(body), `"accepted":30`) {
		t.Fatalf("accept: %d %s", code, body)
	}
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("ok", 0, 30))); code != 202 {
		t.Fatalf("re-send: %d %s", code, body)
	}
	arr := `[{"id":"arr-1","type":"access","time":"2026-11-20T11:00:00Z","actor":{"user":"mallory"},"action":"export_data","decision":"allow","records":50000}]`
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, strings.NewReader(arr)); code != 202 {
		t.Fatalf("array: %d %s", code, body)
	}
	s.stop(t)
	if code, _, errOut := runCLI(t, "evidence", "verify"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Fatalf("usage error: %d %s", code, errOut)
	}
	// Rebuild the local index from the log, offline: each entry once.
	if code, out, errOut := runCLI(t, "index", "rebuild", "--data", data); code != 0 || !strings.Contains(out, "index rebuilt: 31 entries") {
		t.Fatalf("index rebuild: %d %s %s", code, out, errOut)
	}
}

// TestTamperedLogFailsVerify flips bytes in copies of a data directory written by the binary.
func TestTamperedLogFailsVerify(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	for b := 0; b < 5; b++ {
		if code, body := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson(fmt.Sprintf("t%d", b), 0, 40))); code != 202 {
			t.Fatalf("%d %s", code, body)
		}
	}
	s.stop(t)
	segs, _ := filepath.Glob(filepath.Join(data, "log", "*"))
	var target string
	var size int64
	for _, p := range segs {
		if st, err := os.Stat(p); err == nil && st.Size() > size && !st.IsDir() {
			target, size = p, st.Size()
		}
	}
	if target == "" {
		t.Fatal("no log files")
	}
	for _, frac := range []float64{0.1, 0.5, 0.9} {
		cp := copyDir(t, data)
		path := filepath.Join(cp, "log", filepath.Base(target))
		b, _ := os.ReadFile(path)
		b[int(float64(len(b))*frac)] ^= 0x20
		os.WriteFile(path, b, 0o600)
		code, out, errOut := runCLI(t, "audit", "verify", "--data", cp)
		if code != 1 || !strings.Contains(errOut, "first bad entry") {
			t.Fatalf("flip at %.0f%% of %s: exit %d\n%s%s", frac*100, filepath.Base(target), code, out, errOut)
		}
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
