package listener

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// start serves h with l on a loopback port and returns its address.
func start(t *testing.T, h http.Handler, l Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := Server(h, l, nil)
	go srv.Serve(Limit(ln, l))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, "body", http.StatusRequestTimeout)
		return
	}
	io.WriteString(w, "ok")
})

// closedByServer waits (bounded) for the server to close c.
func closedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// TestSilentConnectionsDoNotStarve reproduces finding 3 of issue 12: idle keep-alive
// connections were never closed (no idle timeout), so they exhausted descriptors. With the
// connection cap reached by a silent and an idle connection, the header and idle timeouts
// close them and a real request is served.
func TestSilentConnectionsDoNotStarve(t *testing.T) {
	addr := start(t, ok, Limits{MaxConns: 2, ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	var silent []net.Conn
	for i := range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i == 1 { // an idle keep-alive: one request, then nothing
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		silent = append(silent, c)
	}
	cl := &http.Client{Timeout: 20 * time.Second}
	resp, err := cl.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("real client starved: %v", err)
	}
	resp.Body.Close()
	for _, c := range silent {
		closedByServer(t, c)
	}
}

// TestBodyThatNeverArrives: a request whose body never comes is dropped after ReadTimeout
// instead of holding a connection and a handler.
func TestBodyThatNeverArrives(t *testing.T) {
	addr := start(t, ok, Limits{ReadTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("status %d", resp.StatusCode)
		}
	} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection still held after the read timeout")
	}
}

// TestHugeHeaders: the 450 KB User-Agent of the review is refused with 431.
func TestHugeHeaders(t *testing.T) {
	addr := start(t, ok, Limits{})
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("User-Agent", strings.Repeat("A", 450<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

func TestDefaults(t *testing.T) {
	srv := Server(ok, Limits{IdleTimeout: time.Second}, nil)
	if srv.ReadHeaderTimeout != Defaults.ReadHeaderTimeout || srv.ReadTimeout != Defaults.ReadTimeout || srv.WriteTimeout != Defaults.WriteTimeout ||
		srv.IdleTimeout != time.Second || srv.MaxHeaderBytes != Defaults.MaxHeaderBytes {
		t.Fatalf("server limits %+v", srv)
	}
}
