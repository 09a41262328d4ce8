package statefile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestUpdateConcurrentWritersLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				err := Update(path, func(old []byte) ([]byte, error) {
					var n int
					if len(old) > 0 {
						if err := json.Unmarshal(old, &n); err != nil {
							return nil, err
						}
					}
					return json.Marshal(n + 1)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	data, _, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := json.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Fatalf("counter = %d, want %d", n, writers*each)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", di.Mode().Perm())
	}
}

func TestStampChangesOnEveryUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	st0, err := Stat(path)
	if err != nil || st0.Exist {
		t.Fatalf("missing file: %+v %v", st0, err)
	}
	prev := st0
	for i := range 3 {
		if err := Update(path, func([]byte) ([]byte, error) { return []byte("same"), nil }); err != nil {
			t.Fatal(err)
		}
		st, err := Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st == prev {
			t.Fatalf("update %d: stamp unchanged %+v", i, st)
		}
		prev = st
	}
}

func TestUpdateErrorLeavesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	if err := Update(path, func([]byte) ([]byte, error) { return []byte("v1"), nil }); err != nil {
		t.Fatal(err)
	}
	want := os.ErrInvalid
	if err := Update(path, func([]byte) ([]byte, error) { return nil, want }); !errors.Is(err, want) {
		t.Fatalf("err = %v", err)
	}
	data, _, _ := Read(path)
	if string(data) != "v1" {
		t.Fatalf("data = %q", data)
	}
}
