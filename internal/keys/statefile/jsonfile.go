package statefile

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// JSONFile is a JSON document of type F kept in a state file shared with other processes,
// together with the decoded form T built from it and cached (see [Cache]). It is the whole
// storage layer of a small store: open it once, read with the embedded Cache's Get, Changed or
// Fresh, and change it with [JSONFile.Update].
type JSONFile[F, T any] struct {
	*Cache[T]
	path  string
	empty F
}

// OpenJSON creates path holding empty when the file is missing or empty (mode 0600, under the
// shared lock), then reads it once: the document is decoded into a copy of empty and build
// makes the cached form. poll and log are as for [NewCache].
func OpenJSON[F, T any](path string, empty F, poll time.Duration, log *slog.Logger, build func(F) (*T, error)) (*JSONFile[F, T], error) {
	if err := Update(path, func(old []byte) ([]byte, error) {
		if len(old) > 0 {
			return old, nil
		}
		return json.Marshal(empty)
	}); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	c, err := NewCache(path, poll, log, func(data []byte) (*T, error) {
		doc := empty
		if len(data) > 0 {
			if err := json.Unmarshal(data, &doc); err != nil {
				return nil, err
			}
		}
		return build(doc)
	})
	if err != nil {
		return nil, err
	}
	return &JSONFile[F, T]{Cache: c, path: path, empty: empty}, nil
}

// Update changes the document under the lock shared by every process (see [UpdateJSON]) and
// reloads the cached form, so the caller reads its own write at once. When fn returns an error
// nothing is written and that error is returned as is.
func (j *JSONFile[F, T]) Update(fn func(*F) error) error {
	if err := UpdateJSON(j.path, j.empty, fn); err != nil {
		return err
	}
	j.Fresh()
	return nil
}
