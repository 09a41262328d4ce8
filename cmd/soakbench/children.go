package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/warden-ai/warden/internal/upstreamsim"
)

// runSim serves the simulated upstream model until SIGTERM; its first line on stdout is the
// address it listens on.
func runSim(o options) error {
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: upstreamsim.New(upstreamsim.Options{}), ReadHeaderTimeout: 10 * time.Second}
	fmt.Println(ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// junkReport is what the junk process prints on stdout when it is done.
type junkReport struct {
	Status map[string]int `json:"status"`
}

// runJunk sends the junk sources for -duration and prints a junkReport.
func runJunk(o options) error {
	b := &bench{o: o, apiURL: o.apiURL, gwURL: o.gwURL, ingest: o.ingestTok, key: o.key, junk: newClient(), idPrefix: "junk-"}
	b.init()
	if o.ackedFile != "" {
		raw, err := os.ReadFile(o.ackedFile)
		if err != nil {
			return err
		}
		b.ackedPool = strings.Fields(string(raw))
	}
	b.sources()
	st := newStats()
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range b.junkSrcs {
		wg.Go(func() { openLoop(ctx, s, st) })
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(junkReport{Status: st.status})
}

// child is a soakbench process of another role.
type child struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

func startChild(args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &child{cmd: cmd, out: bufio.NewReader(out)}, nil
}

// startSim starts the simulated upstream and returns its process and address.
func startSim() (*child, string, error) {
	c, err := startChild("-role", "sim")
	if err != nil {
		return nil, "", err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		_ = c.cmd.Process.Kill()
		return nil, "", fmt.Errorf("simulated upstream: %w", err)
	}
	return c, strings.TrimSpace(line), nil
}

// startJunk starts the junk load for d.
func (b *bench) startJunk(d time.Duration, ackedFile string) (*child, error) {
	return startChild("-role", "junk", "-duration", d.String(),
		"-api-url", b.apiURL, "-gateway-url", b.gwURL, "-ingest-token", b.ingest, "-key", b.key,
		"-ingest-junk", fmt.Sprint(b.o.ingestJunk), "-gateway-junk", fmt.Sprint(b.o.gatewayJunk),
		"-batch", fmt.Sprint(b.o.batch), "-acked-file", ackedFile)
}

// wait collects the junk process's report and CPU time.
func (c *child) wait() (junkReport, time.Duration, error) {
	var rep junkReport
	derr := json.NewDecoder(c.out).Decode(&rep)
	err := c.cmd.Wait()
	cpu := time.Duration(0)
	if c.cmd.ProcessState != nil {
		cpu = c.cmd.ProcessState.UserTime() + c.cmd.ProcessState.SystemTime()
	}
	return rep, cpu, errors.Join(derr, err)
}
