// Package contract is TSBank's wire contract: the NATS subjects, the JSON request, reply and
// event types, the stable error codes and the strict request decoder. Every service and every
// client depends on it; it depends on no service. The typed Go client is in package client.
package contract
