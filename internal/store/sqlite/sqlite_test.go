package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/warden-ai/warden/internal/store"
	"github.com/warden-ai/warden/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
