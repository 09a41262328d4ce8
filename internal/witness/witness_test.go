package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/warden-ai/warden/internal/audit"
)

// testLog is a real audit log signed by an external key, so that a second log (a fork) can be
// signed by the same key.
type testLog struct {
	l    *audit.Log
	d    string
	skey string
	vkey string
}

func newLog(t *testing.T, skey, vkey string) *testLog {
	t.Helper()
	if skey == "" {
		var err error
		if skey, vkey, err = audit.GenerateKey(audit.DefaultOrigin); err != nil {
			t.Fatal(err)
		}
	}
	s, pub, err := audit.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if pub != vkey {
		t.Fatalf("ParseSigner public key %q, want %q", pub, vkey)
	}
	o := audit.DefaultOptions(t.TempDir())
	o.Signer, o.PublicKey = s, vkey
	o.CheckpointInterval = time.Hour
	l, err := audit.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &testLog{l: l, d: o.Dir, skey: skey, vkey: vkey}
}

func (tl *testLog) add(t *testing.T, tag string, n int) []byte {
	t.Helper()
	recs := make([]audit.Record, n)
	base := tl.l.Size()
	for i := range recs {
		recs[i] = audit.Record{ID: fmt.Sprintf("%s-%d", tag, int(base)+i), Leaf: fmt.Appendf(nil, `{"id":"%s-%d"}`, tag, int(base)+i)}
	}
	if _, err := tl.l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	cp, err := tl.l.CheckpointNow()
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (tl *testLog) prove(oldSize, newSize uint64) ([][]byte, error) {
	return tl.l.ConsistencyProof(oldSize, newSize)
}

func status(err error) int {
	var we *Error
	if errors.As(err, &we) {
		return we.Status
	}
	return 0
}

func TestWitnessCosignsOnlyConsistentExtensions(t *testing.T) {
	ctx := context.Background()
	lg := newLog(t, "", "")
	dir := t.TempDir()
	w, err := New(Options{Dir: dir, Name: "witness.test", LogKeys: []string{lg.vkey}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	c, err := NewClient(srv.URL, w.VerifierKey(), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	cosigned := func(cp, sig []byte) []byte { return append(bytes.TrimRight(cp, "\n"), append([]byte("\n"), sig...)...) }
	wv, err := tnote.NewVerifierForCosignatureV1(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}

	// 1. First checkpoint (old 0), then two extensions with consistency proofs.
	var cp []byte
	for round, n := range []int{5, 12, 1} {
		cp = lg.add(t, "a", n)
		sig, err := c.Cosign(ctx, cp, lg.l.Size(), lg.prove)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if _, err := note.Open(cosigned(cp, sig), note.VerifierList(wv)); err != nil {
			t.Fatalf("round %d: cosignature does not verify: %v", round, err)
		}
	}
	// Resubmitting the same checkpoint is fine (same size, same root).
	if _, err := w.AddCheckpoint(ctx, &Request{OldSize: 18, Checkpoint: cp}); err != nil {
		t.Fatalf("same checkpoint again: %v", err)
	}

	// 2. A fork: same key, same origin, different entries.
	fork := newLog(t, lg.skey, lg.vkey)
	fcp := fork.add(t, "b", 18)
	if _, err := w.AddCheckpoint(ctx, &Request{OldSize: 18, Checkpoint: fcp}); status(err) != 409 {
		t.Fatalf("fork at the same size: %v, want 409", err)
	}
	fcp = fork.add(t, "b", 4)
	p, _ := fork.prove(18, 22)
	req := &Request{OldSize: 18, Checkpoint: fcp}
	for _, h := range p {
		req.Proof = append(req.Proof, [32]byte(h))
	}
	if _, err := w.AddCheckpoint(ctx, req); status(err) != 422 {
		t.Fatalf("fork extended with its own proof: %v, want 422", err)
	}
	// 3. Rollback: an older checkpoint of the real log.
	old := newLog(t, lg.skey, lg.vkey)
	ocp := old.add(t, "a", 5)
	if _, err := w.AddCheckpoint(ctx, &Request{OldSize: 18, Checkpoint: ocp}); status(err) != 400 {
		t.Fatalf("rolled-back checkpoint: %v, want 400", err)
	}
	// 4. Stale old size: 409 carrying the witness's size, over HTTP too.
	if _, err := w.AddCheckpoint(ctx, &Request{OldSize: 5, Checkpoint: cp}); status(err) != 409 {
		t.Fatalf("stale old size: %v, want 409", err)
	}
	resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader((&Request{OldSize: 5, Checkpoint: cp}).Marshal()))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 409 || resp.Header.Get("Content-Type") != "text/x.tlog.size" || b.String() != "18\n" {
		t.Fatalf("HTTP stale old size: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b.String())
	}
	// 5. Unknown origin (404) and a checkpoint of the right origin under another key (403).
	other, _, _ := audit.GenerateKey("other.example/log")
	ol := newLogOrigin(t, other)
	if _, err := w.AddCheckpoint(ctx, &Request{Checkpoint: ol.add(t, "c", 1)}); status(err) != 404 {
		t.Fatalf("unknown origin: %v, want 404", err)
	}
	impostor := newLog(t, "", "")
	if _, err := w.AddCheckpoint(ctx, &Request{OldSize: 18, Checkpoint: impostor.add(t, "a", 20)}); status(err) != 403 {
		t.Fatalf("checkpoint under an untrusted key: %v, want 403", err)
	}

	// 6. A restarted witness remembers: the fork is still refused, and a client that lost its
	// state learns the size from the 409 and catches up with a proof.
	w2, err := New(Options{Dir: dir, LogKeys: []string{lg.vkey}})
	if err != nil {
		t.Fatal(err)
	}
	if w2.VerifierKey() != w.VerifierKey() {
		t.Fatal("the witness key changed across a restart")
	}
	if _, err := w2.AddCheckpoint(ctx, &Request{OldSize: 18, Checkpoint: fcp, Proof: req.Proof}); status(err) != 422 {
		t.Fatalf("fork after restart: %v, want 422", err)
	}
	srv2 := httptest.NewServer(w2.Handler())
	defer srv2.Close()
	c2, _ := NewClient(srv2.URL, w2.VerifierKey(), srv2.Client())
	cp = lg.add(t, "a", 7)
	if _, err := c2.Cosign(ctx, cp, lg.l.Size(), lg.prove); err != nil {
		t.Fatalf("fresh client after restart: %v", err)
	}
	if !strings.HasPrefix(string(w2.Latest(audit.DefaultOrigin)), string(bytes.TrimRight(cp, "\n"))) {
		t.Fatal("Latest is not the cosigned checkpoint")
	}
	if st, err := os.Stat(filepath.Join(dir, stateFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", st, err)
	}
	// A client that expects another witness's key refuses the answer.
	w3, err := New(Options{Dir: t.TempDir(), Name: "witness.test", LogKeys: []string{lg.vkey}})
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := NewClient(srv2.URL, w3.VerifierKey(), srv2.Client())
	cp = lg.add(t, "a", 1)
	if _, err := wrong.Cosign(ctx, cp, lg.l.Size(), lg.prove); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("cosignature under an unexpected key accepted: %v", err)
	}
}

func newLogOrigin(t *testing.T, skey string) *testLog {
	t.Helper()
	s, pub, err := audit.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	o := audit.DefaultOptions(t.TempDir())
	o.Origin = s.Name()
	o.Signer, o.PublicKey = s, pub
	o.CheckpointInterval = time.Hour
	l, err := audit.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &testLog{l: l, skey: skey, vkey: pub}
}

func TestParseRequestRoundTrip(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"no blank line", "old 0\ncp\n", "no empty line"},
		{"no old", "new 0\n\ncp\n", `"old <size>"`},
		{"leading zero", "old 01\n\ncp\n", "not a decimal"},
		{"bad hash", "old 3\nAAAA\n\ncp\n", "proof line 1"},
		{"no checkpoint", "old 0\n\n", "no checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseRequest([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
	r := &Request{OldSize: 7, Proof: [][32]byte{{1}, {2}}, Checkpoint: []byte("o\n9\nAAAA\n\n— o x\n")}
	got, err := ParseRequest(r.Marshal())
	if err != nil || got.OldSize != 7 || len(got.Proof) != 2 || got.Proof[1] != r.Proof[1] || !bytes.Equal(got.Checkpoint, r.Checkpoint) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("old 0\n\no\n1\nAAAA\n\n— o x\n"))
	f.Add((&Request{OldSize: 3, Proof: [][32]byte{{9}}, Checkpoint: []byte("x\n")}).Marshal())
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		again, err := ParseRequest(r.Marshal())
		if err != nil || again.OldSize != r.OldSize || len(again.Proof) != len(r.Proof) || !bytes.Equal(again.Checkpoint, r.Checkpoint) {
			t.Fatalf("re-encoding changed the request: %+v vs %+v (%v)", r, again, err)
		}
	})
}

// TestVerifyRequiresCosignature: the log stores what the witness cosigned (SetWitnessed) and
// audit verification with the witness key passes; a fork signed with the same log key and
// carrying the genuine witnessed file, a log truncated below the witnessed size, and a log
// without a witnessed file all fail.
func TestVerifyRequiresCosignature(t *testing.T) {
	ctx := context.Background()
	lg := newLog(t, "", "")
	w, err := New(Options{Dir: t.TempDir(), Name: "witness.test", LogKeys: []string{lg.vkey}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	c, _ := NewClient(srv.URL, w.VerifierKey(), srv.Client())
	cp := lg.add(t, "a", 10)
	sig, err := c.Cosign(ctx, cp, 10, lg.prove)
	if err != nil {
		t.Fatal(err)
	}
	witnessed := append(bytes.TrimRight(cp, "\n"), append([]byte("\n"), sig...)...)
	if err := lg.l.SetWitnessed(witnessed); err != nil {
		t.Fatal(err)
	}
	lg.add(t, "a", 3) // entries after the witnessed checkpoint: signed by the log only
	dir := lg.dir(t)
	opts := audit.VerifyOptions{Keys: []string{lg.vkey}, WitnessKeys: []string{w.VerifierKey()}}
	sum, err := audit.VerifyWith(dir, opts)
	if err != nil || sum.WitnessedSize != 10 || sum.TreeSize != 13 || len(sum.Witnesses) != 1 {
		t.Fatalf("verify with the witness key: %+v %v", sum, err)
	}
	// The log refuses to store a "witnessed" checkpoint that is not its own.
	impostor := newLog(t, "", "")
	if err := lg.l.SetWitnessed(impostor.add(t, "x", 2)); err == nil {
		t.Fatal("SetWitnessed accepted another log's checkpoint")
	}

	kind := func(err error) string {
		var ve *audit.VerifyError
		if errors.As(err, &ve) {
			return ve.Kind
		}
		return fmt.Sprint(err)
	}
	// A fork under the same key, with the genuine witnessed file copied in.
	fork := newLog(t, lg.skey, lg.vkey)
	fork.add(t, "b", 13)
	fdir := fork.dir(t)
	if err := os.WriteFile(filepath.Join(fdir, "witnessed"), witnessed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyWith(fdir, audit.VerifyOptions{Keys: []string{lg.vkey}}); err != nil {
		t.Fatalf("the fork is internally consistent, so verifying without a witness passes: %v", err)
	}
	if _, err := audit.VerifyWith(fdir, audit.VerifyOptions{Keys: []string{lg.vkey}, WitnessKeys: opts.WitnessKeys}); kind(err) != audit.KindInconsistent {
		t.Fatalf("fork with the genuine witnessed file: %v, want %s", err, audit.KindInconsistent)
	}
	// A shorter log (re-signed by the key holder) with the genuine witnessed file.
	short := newLog(t, lg.skey, lg.vkey)
	short.add(t, "a", 4)
	sdir := short.dir(t)
	if err := os.WriteFile(filepath.Join(sdir, "witnessed"), witnessed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyWith(sdir, audit.VerifyOptions{Keys: []string{lg.vkey}, WitnessKeys: opts.WitnessKeys}); kind(err) != audit.KindRollback {
		t.Fatalf("truncated log with the genuine witnessed file: %v, want %s", err, audit.KindRollback)
	}
	// No witnessed file at all.
	if err := os.Remove(filepath.Join(sdir, "witnessed")); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyWith(sdir, audit.VerifyOptions{Keys: []string{lg.vkey}, WitnessKeys: opts.WitnessKeys}); kind(err) != audit.KindUnwitnessed {
		t.Fatalf("no witnessed file: %v, want %s", err, audit.KindUnwitnessed)
	}
}

// dir closes the log and returns its directory.
func (tl *testLog) dir(t *testing.T) string {
	t.Helper()
	if err := tl.l.Close(); err != nil {
		t.Fatal(err)
	}
	return tl.d
}

// TestClientRefusals: what a witness refuses reaches the submitter as *RefusedError (tampering
// suspected), a witness that cannot be reached as another error.
func TestClientRefusals(t *testing.T) {
	ctx := context.Background()
	lg := newLog(t, "", "")
	w, err := New(Options{Dir: t.TempDir(), Name: "witness.test", LogKeys: []string{lg.vkey}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	c, _ := NewClient(srv.URL, w.VerifierKey(), srv.Client())
	cp := lg.add(t, "a", 10)
	if _, err := c.Cosign(ctx, cp, 10, lg.prove); err != nil {
		t.Fatal(err)
	}
	refusal := func(t *testing.T, err error, status int, witnessSize uint64, reason string) {
		t.Helper()
		var ref *RefusedError
		if !errors.As(err, &ref) || ref.Status != status || ref.WitnessSize != witnessSize || !strings.Contains(ref.Error(), reason) {
			t.Fatalf("err %v (%#v), want a refusal with status %d, witness size %d, %q", err, ref, status, witnessSize, reason)
		}
	}
	tests := []struct {
		name        string
		client      func() *Client
		cp          func() (cp []byte, size uint64, prove ProofFunc)
		status      int
		witnessSize uint64
		reason      string
	}{
		{"fork at the cosigned size", func() *Client { c, _ := NewClient(srv.URL, w.VerifierKey(), srv.Client()); return c },
			func() ([]byte, uint64, ProofFunc) {
				f := newLog(t, lg.skey, lg.vkey)
				return f.add(t, "b", 10), 10, f.prove
			}, 409, 10, "a fork"},
		{"rewritten history", func() *Client { return c },
			func() ([]byte, uint64, ProofFunc) {
				f := newLog(t, lg.skey, lg.vkey)
				return f.add(t, "b", 12), 12, f.prove
			}, 422, 10, "consistency proof"},
		{"rollback", func() *Client { c, _ := NewClient(srv.URL, w.VerifierKey(), srv.Client()); return c },
			func() ([]byte, uint64, ProofFunc) {
				f := newLog(t, lg.skey, lg.vkey)
				return f.add(t, "a", 4), 4, f.prove
			}, 0, 10, "rolled back"},
		{"another key", func() *Client { return c },
			func() ([]byte, uint64, ProofFunc) {
				f := newLog(t, "", "")
				return f.add(t, "a", 12), 12, f.prove
			}, 403, 10, "no signature by a trusted key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp, size, prove := tt.cp()
			_, err := tt.client().Cosign(ctx, cp, size, prove)
			refusal(t, err, tt.status, tt.witnessSize, tt.reason)
		})
	}
	// Unreachable: not a refusal.
	srv.Close()
	_, err = c.Cosign(ctx, lg.add(t, "a", 1), 11, lg.prove)
	var ref *RefusedError
	if err == nil || errors.As(err, &ref) {
		t.Fatalf("unreachable witness: %v, want a transport error that is not a refusal", err)
	}
}
