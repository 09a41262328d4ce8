package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxProofHashes bounds the consistency proof of an add-checkpoint request (a tree of 2^63
// entries needs at most 63 hashes).
const MaxProofHashes = 63

// MaxRequestBytes bounds an add-checkpoint request body.
const MaxRequestBytes = 64 << 10

// Request is an add-checkpoint request: the size of the checkpoint the submitter believes the
// witness cosigned last, a consistency proof from that size to the checkpoint's, and the
// signed checkpoint note.
type Request struct {
	OldSize    uint64
	Proof      [][32]byte
	Checkpoint []byte
}

// Marshal encodes r as an add-checkpoint body: "old N", one base64 hash per line, an empty
// line, the checkpoint.
func (r *Request) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseRequest decodes an add-checkpoint body. It checks only the framing; signatures and
// the proof are the Witness's business.
func ParseRequest(body []byte) (*Request, error) {
	if len(body) > MaxRequestBytes {
		return nil, fmt.Errorf("request of %d bytes exceeds %d", len(body), MaxRequestBytes)
	}
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return nil, errors.New("no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	sz, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return nil, errors.New(`first line must be "old <size>"`)
	}
	old, err := strconv.ParseUint(sz, 10, 64)
	if err != nil || strconv.FormatUint(old, 10) != sz {
		return nil, fmt.Errorf("old size %q is not a decimal number", sz)
	}
	r := &Request{OldSize: old, Checkpoint: cp}
	if len(lines)-1 > MaxProofHashes {
		return nil, fmt.Errorf("consistency proof of %d hashes exceeds %d", len(lines)-1, MaxProofHashes)
	}
	for i, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("proof line %d is not a base64 SHA-256 hash", i+1)
		}
		r.Proof = append(r.Proof, [32]byte(h))
	}
	if len(cp) == 0 {
		return nil, errors.New("no checkpoint after the empty line")
	}
	return r, nil
}
