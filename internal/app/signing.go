package app

import (
	"fmt"

	"github.com/warden-ai/warden/internal/audit"
)

// SigningKeyEnv names the environment variable that points at the audit log's signing key
// when Options.SigningKeyFile is empty.
const SigningKeyEnv = "WARDEN_SIGNING_KEY_FILE"

// signingKey sets the audit log's signer from Options.SigningKeyFile (or $WARDEN_SIGNING_KEY_FILE):
// a key kept outside the data directory, so that whoever can write the directory cannot sign.
// Without one the log keeps its key in <data>/log/log.key.
func (a *App) signingKey(ao *audit.Options) error {
	path := a.opts.SigningKeyFile
	if path == "" {
		path = a.opts.Getenv(SigningKeyEnv)
	}
	if path == "" {
		return nil
	}
	s, pub, err := audit.LoadSignerFile(path)
	if err != nil {
		return fmt.Errorf("audit log signing key: %w", err)
	}
	ao.Signer, ao.PublicKey = s, pub
	return nil
}
