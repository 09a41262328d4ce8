package app

import (
	"github.com/warden-ai/warden/internal/scan"
)

// NewRedactor builds the text redactor used for store_text: redacted — the PII and secret
// scanners only, with typed placeholders (scan.Redactor).
func NewRedactor() (func(string) string, error) {
	return scan.NewRedactor().Redact, nil
}
