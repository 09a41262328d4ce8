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

// Size is the size of the checkpoint the witness cosigned last, as far as the client knows.
func (c *Client) Size() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// Cosign submits the signed checkpoint (of size size) and returns the witness's verified
// cosignature line. A 409 answer teaches the client the witness's size; it retries once.
func (c *Client) Cosign(ctx context.Context, checkpoint []byte, size uint64, prove ProofFunc) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		req := &Request{OldSize: c.size, Checkpoint: checkpoint}
		if c.size > size {
			return nil, &RefusedError{Witness: c.v.Name(), WitnessSize: c.size, Size: size,
				Reason: fmt.Sprintf("it cosigned size %d, beyond this checkpoint's %d: the log was rolled back", c.size, size)}
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
				reason := "a different root at the size it cosigned (a fork): " + strings.TrimSpace(string(body))
				return nil, &RefusedError{Witness: c.v.Name(), Status: resp.StatusCode, Reason: reason, WitnessSize: n, Size: size}
			}
			c.size = n
		case http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity:
			return nil, &RefusedError{Witness: c.v.Name(), Status: resp.StatusCode, Reason: strings.TrimSpace(string(body)), WitnessSize: c.size, Size: size}
		default:
			return nil, fmt.Errorf("witness %s: HTTP %d: %s", c.v.Name(), resp.StatusCode, strings.TrimSpace(string(body)))
		}
	}
}

// RefusedError is a witness's refusal of a checkpoint: it answered, and said no (HTTP 403 not
// signed by a key it trusts for the log, 404 unknown origin, 409 a different root at the size it
// cosigned — a fork —, 422 the consistency proof does not hold), or it already cosigned a
// larger tree than the one submitted (a rollback). Each means the log the witness saw and the
// one submitted disagree, or the witness does not know the log key: for the submitter, tampering
// is suspected. Transport errors and 5xx answers are not refusals (the witness is unreachable).
type RefusedError struct {
	Witness string
	Status  int    // the HTTP status; 0 for a rollback found by the client
	Reason  string // the witness's answer
	// WitnessSize is the size the witness cosigned last, when known (409 answers, rollbacks).
	WitnessSize uint64
	Size        uint64 // the size of the refused checkpoint
}

func (e *RefusedError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("witness %s refused: %s", e.Witness, e.Reason)
	}
	return fmt.Sprintf("witness %s refused: HTTP %d: %s", e.Witness, e.Status, e.Reason)
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
