package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/warden-ai/warden/internal/audit"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		leaf, blob []byte
	}{
		{"leaf only", []byte(`{"id":"a"}`), nil},
		{"leaf and blob", []byte(`{"id":"a"}`), []byte("text")},
		{"long leaf", bytes.Repeat([]byte("x"), 70_000), []byte{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf, blob, err := DecodeRecord(EncodeRecord(tt.leaf, tt.blob))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(leaf, tt.leaf) || !bytes.Equal(blob, tt.blob) {
				t.Fatalf("got %q/%q", leaf, blob)
			}
		})
	}
}

func TestDecodeRecordRefusesMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {2, 1, 'x'}, {1, 5, 'x'}, {1, 0}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, _, err := DecodeRecord(b); !errors.Is(err, ErrBadMessage) {
			t.Errorf("DecodeRecord(%v) = %v, want ErrBadMessage", b, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(EncodeRecord([]byte("leaf"), []byte("blob")))
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		leaf, blob, err := DecodeRecord(b)
		if err != nil {
			return
		}
		again, _, err := DecodeRecord(EncodeRecord(leaf, blob))
		if err != nil || !bytes.Equal(again, leaf) {
			t.Fatalf("re-encoding %q: %v", b, err)
		}
	})
}

func TestPartitionIsStableAndSpread(t *testing.T) {
	if Partition("any", 1) != 0 || Partition("any", 0) != 0 {
		t.Fatal("one partition must be 0")
	}
	seen := map[int]int{}
	for i := range 1000 {
		m := fmt.Sprintf("model-%d", i)
		p := Partition(m, 16)
		if p != Partition(m, 16) || p < 0 || p >= 16 {
			t.Fatalf("partition of %s: %d", m, p)
		}
		seen[p]++
	}
	for p := range 16 {
		if seen[p] < 30 { // 62.5 expected per partition
			t.Fatalf("partition %d got %d of 1000 models: %v", p, seen[p], seen)
		}
	}
}

func TestInprocAppendsToTheLog(t *testing.T) {
	opts := audit.DefaultOptions(filepath.Join(t.TempDir(), "log"))
	log, err := audit.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p := NewInproc(log)
	idx, err := p.Publish(context.Background(), []audit.Record{{ID: "a", Leaf: []byte(`{"id":"a"}`)}, {ID: "b", Leaf: []byte(`{"id":"b"}`)}}, []string{"m", "m"})
	if err != nil || len(idx) != 2 || idx[0] != 0 || idx[1] != 1 {
		t.Fatalf("publish: %v %v", idx, err)
	}
	idx, err = p.Publish(context.Background(), []audit.Record{{ID: "a", Leaf: []byte(`{"id":"a"}`)}}, []string{"m"})
	if err != nil || idx[0] != 0 || log.Size() != 2 {
		t.Fatalf("re-publish must be idempotent: %v %v size %d", idx, err, log.Size())
	}
}
