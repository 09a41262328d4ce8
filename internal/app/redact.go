package app

import (
	"context"
	"fmt"

	"github.com/warden-ai/warden/internal/scan"
)

// NewRedactor builds the text redactor used for store_text: redacted — the PII and secret
// scanners only, with typed placeholders.
func NewRedactor() (func(string) string, error) {
	opts := scan.DefaultOptions()
	opts.Disable = []string{scan.ScannerInvisible, scan.ScannerInjection, scan.ScannerEncoded, scan.ScannerMarkup, scan.ScannerHarmful, scan.ScannerLeak, scan.ScannerRefusal}
	eng, err := scan.New(opts)
	if err != nil {
		return nil, fmt.Errorf("build redactor: %w", err)
	}
	return func(text string) string {
		if text == "" {
			return ""
		}
		fs, _ := eng.Scan(context.Background(), text, scan.Output, scan.Context{})
		if len(fs) == 0 {
			return text
		}
		return scan.Redact(text, fs)
	}, nil
}
