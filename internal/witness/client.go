package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	tnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// ProofFunc returns the RFC 6962 consistency proof from oldSize to newSize of the log.
type ProofFunc func(oldSize, newSize uint64) ([][]byte, error)

// Client submits a log's checkpoints to one witness and checks the cosignature it returns.
// It remembers the size the witness cosigned last (learnt from a 409 answer after a restart).
type Client struct {
	url  string
	v    note.Verifier
	http *http.Client

	mu   sync.Mutex
	size uint64
}

// NewClient returns a client of the witness at baseURL whose cosignature/v1 (or Ed25519 note)
// verifier key is vkey.
func NewClient(baseURL, vkey string, hc *http.Client) (*Client, error) {
	v, err := tnote.NewVerifierForCosignatureV1(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{url: strings.TrimRight(baseURL, "/") + "/add-checkpoint", v: v, http: hc}, nil
}

// Name is the witness's key name.
func (c *Client) Name() string { return c.v.Name() }

// Cosign submits the signed checkpoint (of size size) and returns the witness's verified
// cosignature line. A 409 answer teaches the client the witness's size; it retries once.
func (c *Client) Cosign(ctx context.Context, checkpoint []byte, size uint64, prove ProofFunc) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		req := &Request{OldSize: c.size, Checkpoint: checkpoint}
		if c.size > size {
			return nil, fmt.Errorf("witness %s cosigned size %d, beyond this checkpoint's %d", c.v.Name(), c.size, size)
		}
		if c.size > 0 && c.size < size {
			p, err := prove(c.size, size)
			if err != nil {
				return nil, err
			}
			for _, h := range p {
				req.Proof = append(req.Proof, [32]byte(h))
			}
		}
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(req.Marshal()))
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(hr)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", c.v.Name(), err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", c.v.Name(), err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if err := c.check(checkpoint, body); err != nil {
				return nil, err
			}
			c.size = size
			return body, nil
		case http.StatusConflict:
			n, perr := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
			if perr != nil || attempt > 0 || resp.Header.Get("Content-Type") != "text/x.tlog.size" {
				return nil, fmt.Errorf("witness %s: conflict: %s", c.v.Name(), strings.TrimSpace(string(body)))
			}
			c.size = n
		default:
			return nil, fmt.Errorf("witness %s: HTTP %d: %s", c.v.Name(), resp.StatusCode, strings.TrimSpace(string(body)))
		}
	}
}

// check verifies that sig holds a cosignature of checkpoint by the witness.
func (c *Client) check(checkpoint, sig []byte) error {
	if !bytes.HasPrefix(sig, []byte("— ")) || bytes.Count(sig, []byte("\n")) != 1 || !bytes.HasSuffix(sig, []byte("\n")) {
		return fmt.Errorf("witness %s: answer is not one signature line", c.v.Name())
	}
	text, _, ok := bytes.Cut(checkpoint, []byte("\n\n"))
	if !ok {
		return errors.New("checkpoint is not a signed note")
	}
	msg := append(append(append([]byte{}, text...), "\n\n"...), sig...)
	if _, err := note.Open(msg, note.VerifierList(c.v)); err != nil {
		return fmt.Errorf("witness %s: cosignature does not verify: %w", c.v.Name(), err)
	}
	return nil
}
