package incident

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"
)

func FuzzVerifyExport(f *testing.F) {
	var exports [][]string
	m, err := New(Options{ExportEvidence: fakeExporter(&exports)})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	m.ObserveAlert(ctx, p1("exfil", "bot", "mallory", "e1"))
	var good bytes.Buffer
	if err := m.Export(ctx, m.List(Filter{})[0].ID, &good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	var dup bytes.Buffer
	tw := tar.NewWriter(&dup)
	for range 2 {
		tw.WriteHeader(&tar.Header{Name: "case.json", Size: 2, Mode: 0o600})
		tw.Write([]byte("{}"))
	}
	tw.Close()
	f.Add(dup.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := VerifyExport(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, ok := files["manifest.json"]; !ok {
			t.Fatal("accepted an archive without a manifest")
		}
	})
}
