// Package e2e holds the tests and benchmarks that need several services at once: account nodes
// and the coordinator, each with its own database, over one real nats-server and one real
// PostgreSQL. It has no code of its own outside its tests.
package e2e
