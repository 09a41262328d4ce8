package scan

import (
	"embed"
	"fmt"

	"github.com/warden-ai/warden/internal/scan/linear"
)

//go:embed weights
var weightFS embed.FS

func loadModel(name string, over map[string][]byte) (*linear.Model, error) {
	b, ok := over[name]
	var err error
	if !ok {
		b, err = weightFS.ReadFile("weights/" + name)
	}
	if err != nil {
		return nil, fmt.Errorf("read embedded weights %s (run cmd/scantrain): %w", name, err)
	}
	m, err := linear.Load(b)
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", name, err)
	}
	return m, nil
}
