package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
)

// MaxLine is the longest input line Batch accepts.
const MaxLine = 8 << 20

// ErrInvalidInput reports input lines Batch could not use; they are answered
// with an error record and the rest of the stream is still processed.
var ErrInvalidInput = errors.New("invalid input")

// BatchRecord is one output line of Batch.
type BatchRecord struct {
	ID       json.RawMessage `json:"id"`
	Verdict  Action          `json:"verdict,omitempty"` // allow | flag | block
	Action   Action          `json:"action,omitempty"`  // the policy action, incl. redact
	Findings []Finding       `json:"findings"`
	Error    string          `json:"error,omitempty"`
}

type batchIn struct {
	ID     json.RawMessage `json:"id"`
	Text   *string         `json:"text"`
	Input  *string         `json:"input"`
	Output *string         `json:"output"`
	Model  string          `json:"model"`
}

type batchJob struct {
	seq  int
	line []byte
	out  chan lineResult
}

type lineResult struct {
	b   []byte
	bad bool
}

// Batch reads JSON Lines ({"id","text"} or {"id","input","output"}, or plain
// text lines whose id is their 1-based line number) from r, scans each with
// e, and writes one JSON line per input line to w in input order. Lines are
// processed by workers goroutines (0 = GOMAXPROCS) with a bounded number in
// flight, so memory stays flat on large inputs. "input" is scanned with role
// input, "output" and plain "text" with role input unless only output is set.
// Findings of an "output" field get their offsets unchanged; the verdict is
// the policy decision over both roles. Bad lines produce an error record and
// make Batch return an error wrapping ErrInvalidInput after the whole stream.
func Batch(ctx context.Context, r io.Reader, w io.Writer, e *Engine, p Policy, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan batchJob)
	order := make(chan chan lineResult, workers*16) // bounds lines in flight
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				j.out <- e.batchLine(ctx, j.seq, j.line, p)
			}
		})
	}
	var readErr error
	go func() {
		defer close(order)
		defer close(jobs)
		br := bufio.NewReaderSize(r, 64<<10)
		seq := 0
		for {
			line, err := readLine(br)
			if len(line) > 0 || (err == nil) {
				seq++
				out := make(chan lineResult, 1)
				select {
				case order <- out:
				case <-ctx.Done():
					return
				}
				select {
				case jobs <- batchJob{seq, line, out}:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
		}
	}()
	bw := bufio.NewWriterSize(w, 64<<10)
	var bad, firstBad, n int
	var werr error
	for out := range order {
		res := <-out
		b := res.b
		n++
		if res.bad {
			bad++
			if firstBad == 0 {
				firstBad = n
			}
		}
		if werr == nil {
			if _, werr = bw.Write(b); werr == nil {
				werr = bw.WriteByte('\n')
			}
			if werr != nil {
				cancel()
			}
		}
	}
	wg.Wait()
	if werr == nil {
		werr = bw.Flush()
	}
	switch {
	case werr != nil:
		return fmt.Errorf("write output: %w", werr)
	case readErr != nil:
		return fmt.Errorf("read input after line %d: %w", n, readErr)
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled):
		return fmt.Errorf("batch: %w", ctx.Err())
	case bad > 0:
		return fmt.Errorf("%d invalid lines (first: line %d): %w", bad, firstBad, ErrInvalidInput)
	}
	return nil
}

// errLineTooLong is returned (wrapped) for a line longer than MaxLine.
var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its "\n" (and "\r"). Over-long
// lines are consumed and returned as a marker the worker rejects.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) <= MaxLine {
			buf = append(buf, chunk...)
		} else if buf != nil {
			buf = buf[:0]
			buf = append(buf, tooLongMarker...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if err != nil && len(buf) == 0 && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if errors.Is(err, io.EOF) && len(chunk) == 0 && len(buf) == 0 {
			return nil, io.EOF
		}
		return buf, err
	}
}

var tooLongMarker = []byte("\x00warden:line-too-long\x00")

func (e *Engine) batchLine(ctx context.Context, seq int, line []byte, p Policy) lineResult {
	id := json.RawMessage(strconv.Itoa(seq))
	fail := func(msg string) lineResult {
		b, _ := json.Marshal(BatchRecord{ID: id, Findings: []Finding{}, Error: msg})
		return lineResult{b, true}
	}
	if bytes.Equal(line, tooLongMarker) {
		return fail(fmt.Sprintf("line %d: %v (max %d bytes)", seq, errLineTooLong, MaxLine))
	}
	var texts [2]string
	var roles [2]Role
	n := 0
	trimmed := bytes.TrimSpace(line)
	var in batchIn
	if len(trimmed) > 0 && trimmed[0] == '{' {
		// A line that opens an object is meant as JSON: a malformed one is an error, not text
		// to scan (scanning half a record would hide the mistake).
		if err := json.Unmarshal(trimmed, &in); err != nil {
			return fail(fmt.Sprintf("line %d: not a valid JSON object (a line starting with { must be one): %v", seq, err))
		}
		if len(in.ID) > 0 {
			id = in.ID
		}
		if in.Text == nil && in.Input == nil && in.Output == nil {
			return fail(fmt.Sprintf("line %d: object has none of text, input, output", seq))
		}
		if in.Text != nil {
			texts[n], roles[n] = *in.Text, Input
			n++
		}
		if in.Input != nil && n < 2 {
			texts[n], roles[n] = *in.Input, Input
			n++
		}
		if in.Output != nil && n < 2 {
			texts[n], roles[n] = *in.Output, Output
			n++
		}
	} else {
		texts[0], roles[0], n = string(line), Input, 1
	}
	rec := BatchRecord{ID: id, Findings: []Finding{}, Action: ActionAllow}
	for k := range n {
		fs, err := e.Scan(ctx, texts[k], roles[k], Context{Model: in.Model})
		if err != nil && len(fs) == 0 {
			return fail(fmt.Sprintf("line %d: scan: %v", seq, err))
		}
		rec.Action = rec.Action.Stronger(p.Decide(roles[k], fs))
		rec.Findings = append(rec.Findings, fs...)
	}
	rec.Verdict = rec.Action
	if rec.Verdict == ActionRedact {
		rec.Verdict = ActionFlag // the CLI verdict is allow | flag | block
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fail(fmt.Sprintf("line %d: encode: %v", seq, err))
	}
	return lineResult{b: b}
}
