package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func benchBody(n int) []byte {
	var b bytes.Buffer
	text := strings.Repeat("the quick brown fox asks about refunds ", 30)[:1000]
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"type":"inference","time":"2026-11-21T10:00:00.123Z","model":{"name":"bench-%d"},"actor":{"user":"user-%d"},"request":{"input":%q,"input_tokens":250},"response":{"output":"ok","output_tokens":1,"latency_ms":%d}}`+"\n", i%10, i%1000, text, 50+i%100)
	}
	return b.Bytes()
}

// BenchmarkDecodeValid measures decoding + validation of an NDJSON batch of 100 events with
// ~1 KB of text each (the ingest benchmark's shape).
func BenchmarkDecodeValid(b *testing.B) {
	body := benchBody(100)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeValid(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}

// BenchmarkNormalizeLeaf measures normalization (hashing) and the audit leaf encoding.
func BenchmarkNormalizeLeaf(b *testing.B) {
	evs, err := DecodeValid(benchBody(100))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, ev := range evs {
			ev.ID = ""
			ev.Normalize()
			if _, err := ev.Leaf(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}

// BenchmarkLeaf compares the hand-written leaf and blob encoders with encoding/json, and the
// leaf and blob decoders with encoding/json's Unmarshal (the followers decode every entry).
func BenchmarkLeaf(b *testing.B) {
	evs, err := DecodeValid(benchBody(1))
	if err != nil {
		b.Fatal(err)
	}
	ev := evs[0]
	ev.Normalize()
	leaf, _ := ev.Leaf()
	blob, _ := ev.Text().Blob()
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := ev.Leaf(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(ev.WithoutText()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("blob", func(b *testing.B) {
		for b.Loop() {
			if _, err := ev.Text().Blob(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("blob/encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(ev.Text()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseLeaf(leaf); err != nil {
				b.Fatal(err)
			}
			if _, err := ParseText(blob); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse/encoding-json", func(b *testing.B) {
		for b.Loop() {
			var e Event
			var t Text
			if err := json.Unmarshal(leaf, &e); err != nil {
				b.Fatal(err)
			}
			if err := json.Unmarshal(blob, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
