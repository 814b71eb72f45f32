// Package ops serves a daemon's operational HTTP endpoints: /live, /ready and /metrics.
//
// Every long-running command (ackmsg-hub, ackmsg-outbox serve, ackmsg-bridge, ackmsg-relay)
// serves the same three paths, from one [Server]:
//
//   - GET /live answers 200 while the process serves HTTP at all;
//   - GET /ready answers 200 when [Config.Ready] returns nil ("ready", or "ready: " and
//     [Config.ReadyDetail]), and 503 with the error's text otherwise;
//   - GET /metrics is [Config.Gatherer] in the Prometheus text format.
//
// [Config.Routes] adds a daemon's own paths (ackmsg-archive's API) to the same server.
//
// Other methods get 405. [Start] listens before it returns, so a taken port fails at start-up,
// not later; [Server.Close] stops accepting, lets requests in progress finish for at most
// [ShutdownTimeout], and returns only after the serving goroutine has ended. The package knows
// nothing of the configuration: callers pass the address, the readiness check, the metrics and
// the logger.
package ops
