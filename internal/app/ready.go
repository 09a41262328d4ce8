package app

import (
	"context"
	"time"
)

// minFreeBytes is the free space on the data directory's file system below which Warden is not
// ready: appends would soon fail.
const minFreeBytes = 64 << 20

// readiness runs the readiness checks and returns the failed ones with their reasons: a log that
// stopped accepting appends, a full disk, an index that cannot be read or is ahead of the log.
func (a *App) readiness(ctx context.Context) map[string]string {
	failed := map[string]string{}
	if err := a.audit.Err(); err != nil {
		failed["audit"] = "the audit log stopped accepting events after a failed write; restart Warden"
	}
	if free, err := freeBytes(a.opts.DataDir); err == nil && free < minFreeBytes {
		failed["disk"] = "less than 64 MiB free on the data directory's file system"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if a.clustered() {
		a.clusterReadiness(ctx, failed)
		if !a.roles.Has(RoleAPI) {
			return failed // no audit log here to compare the index with
		}
	}
	pos, err := a.store.Position(ctx)
	switch {
	case err != nil:
		failed["index"] = "the index store cannot be read; run warden index rebuild"
	case pos > a.audit.Size():
		failed["index"] = "the index is ahead of the audit log (corrupt or from another log); run warden index rebuild"
	}
	return failed
}
