// Package notify delivers alerts to the tools operators already run.
//
// It defines the [Notifier] contract that every integration implements (webhook, Slack,
// PagerDuty, Alertmanager, syslog, Splunk HEC, SMTP email live in subpackages) and the
// [Dispatcher], the delivery pipeline in front of them: bounded retries with exponential
// backoff and jitter, Retry-After for throttled receivers, a dead-letter record when retries
// are exhausted, per-alert per-receiver delivery status, and Prometheus metrics.
//
// Contract for notifiers:
//   - Notify is safe for concurrent use and honours ctx cancellation.
//   - A returned error is retried unless it is marked with [Permanent]; an error that carries a
//     RetryAfter() time.Duration method (such as [*HTTPError]) sets the next delay.
//   - Error text never contains a secret: no webhook secret, token, routing key, password or
//     URL that embeds one. Use [PostJSON] for HTTP, which strips request URLs from transport
//     errors and redacts response bodies; notifytest.AssertNoSecretLeak checks this.
package notify
