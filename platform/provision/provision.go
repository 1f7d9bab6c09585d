// Package provision creates the JetStream assets the bank's services share: the events stream,
// the registry, nodes and leases buckets, and the history's durable consumer. It runs once per
// deployment, as an administrator (`tsbankctl migrate`, or a test's set-up), never inside a
// service: no service identity may create, change or delete a stream, a consumer or a bucket,
// so a leaked service credential cannot truncate the stream, roll up the registry or delete the
// history's consumer (docs/adr/0021). Running it again updates the assets to this version's
// configuration and keeps their data, except the events older than the events stream's retention
// (Options.EventsRetention), which the stream then drops: the history database keeps them.
package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
)

// Options are a deployment's choices.
type Options struct {
	// Replicas of the stream, the buckets and the consumer: 1 on a single server, 3 on a cluster.
	Replicas int
	// LeaseTTL is how long a node's lease outlives its holder's last renewal; the nodes read it
	// from the bucket, so it is set here, for the whole deployment.
	LeaseTTL time.Duration
	// EventsRetention is how long the events stream keeps an event (its MaxAge): zero for
	// DefaultEventsRetention, KeepEvents to keep every event for ever. The history database is
	// the bank's long-term record of events; the stream only has to hold them until the history
	// has read them, so a history stopped for longer than this loses the events that expired
	// meanwhile (reconciliation then reports them missing), and a history started on an empty
	// database gets only the events of the last EventsRetention.
	EventsRetention time.Duration
}

// DefaultEventsRetention is the events stream's retention unless a deployment chooses another:
// 30 days, long enough to restart a history that was down over a long weekend, or to rebuild one.
const DefaultEventsRetention = 30 * 24 * time.Hour

// KeepEvents as Options.EventsRetention keeps every event in the stream for ever.
const KeepEvents time.Duration = -1

// Defaults are those of a single-server deployment.
var Defaults = Options{Replicas: 1, LeaseTTL: 3 * time.Second, EventsRetention: DefaultEventsRetention}

// Run creates or updates every asset.
func Run(ctx context.Context, js jetstream.JetStream, o Options) error {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = Defaults.LeaseTTL
	}
	if _, err := js.CreateOrUpdateStream(ctx, EventsConfig(o)); err != nil {
		return fmt.Errorf("stream %s: %w", contract.EventsStream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, CountersConfig(o.Replicas)); err != nil {
		return fmt.Errorf("stream %s: %w", contract.CountersStream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, RegistryConfig(o.Replicas)); err != nil {
		return fmt.Errorf("bucket %s: %w", contract.AccountsBucket, err)
	}
	for _, kv := range []jetstream.KeyValueConfig{NodesConfig(o.Replicas), LeasesConfig(o.LeaseTTL, o.Replicas), MovesConfig(o.Replicas)} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
			return fmt.Errorf("bucket %s: %w", kv.Bucket, err)
		}
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, contract.EventsStream, HistoryConsumerConfig(o.Replicas)); err != nil {
		return fmt.Errorf("consumer %s on %s: %w", contract.HistoryConsumer, contract.EventsStream, err)
	}
	return nil
}

// At connects to the NATS server(s) at url with opts (an administrator's credentials), provisions
// every asset, waiting up to two minutes for a cluster that is still forming, and disconnects.
func At(ctx context.Context, url string, o Options, opts ...nats.Option) error {
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("provision: nats %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	give := time.Now().Add(formingFor)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		// Each attempt has its own deadline: a cluster without a meta leader does not answer at
		// all, and one attempt must not spend the whole wait.
		actx, cancel := context.WithTimeout(ctx, attemptFor)
		err := Run(actx, js, o)
		cancel()
		var api *jetstream.APIError
		forming := errors.As(err, &api) && (api.Code == 503 || api.ErrorCode == insufficientResources || api.ErrorCode == noPeers) ||
			errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoStreamResponse)
		if err == nil || !forming || time.Now().After(give) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// formingFor bounds how long At waits for a cluster that is still forming, and attemptFor one
// attempt.
const (
	formingFor = 2 * time.Minute
	attemptFor = 10 * time.Second
)

// JetStream's error codes for a stream that asks for more replicas than the servers it knows of,
// or finds one of them offline: a cluster's other servers may not have joined yet.
const (
	insufficientResources jetstream.ErrorCode = 10023
	noPeers               jetstream.ErrorCode = 10005 // "no suitable peers for placement"
)

// EventsConfig is the events stream (baseEventsConfig) with the deployment's
// retention, o.EventsRetention. JetStream refuses a duplicate window longer than the retention, so
// a retention shorter than the stream's ten minutes (tsbankctl refuses one; tests use it)
// shortens the window to match.
func EventsConfig(o Options) jetstream.StreamConfig {
	c := baseEventsConfig(max(o.Replicas, 1))
	switch r := o.EventsRetention; {
	case r == 0:
		c.MaxAge = DefaultEventsRetention
	case r > 0:
		c.MaxAge = r
		c.Duplicates = min(c.Duplicates, r)
	}
	return c
}

// RegistryConfig is the stream behind the registry bucket, written as a stream rather than a
// KeyValueConfig because the bucket is create-only on the server itself: one message per key,
// and a second write to a key is refused (DiscardNewPerSubject), no delete, purge or roll-up. A
// node may register a new account and nothing else; no credential short of an administrator's
// can move, overwrite or erase an entry. The KV client still reads it as a bucket.
func RegistryConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:                 "KV_" + contract.AccountsBucket,
		Description:          "TSBank global registry: account id -> owning node (create-only)",
		Subjects:             []string{"$KV." + contract.AccountsBucket + ".>"},
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		DenyDelete:           true,
		DenyPurge:            true,
		AllowRollup:          false,
		AllowDirect:          true,
		Storage:              jetstream.FileStorage,
		Replicas:             replicas,
		Duplicates:           2 * time.Minute,
		MaxMsgSize:           1024,
	}
}

// NodesConfig is the bucket of live nodes: each node's heartbeat, removed by the TTL.
func NodesConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:       contract.NodesBucket,
		Description:  "TSBank live account nodes (heartbeat, expires by TTL)",
		History:      1,
		TTL:          contract.NodeTTL,
		Storage:      jetstream.FileStorage,
		Replicas:     replicas,
		MaxValueSize: 4096,
	}
}

// MovesConfig is the bucket of moved accounts' placements (contract.Placement), which only the
// coordinator writes, with compare-and-set; one value per key, since each keeps every move.
func MovesConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:       contract.MovesBucket,
		Description:  "TSBank moved accounts: account id -> the node it lives on now, and its moves",
		History:      1,
		Storage:      jetstream.FileStorage,
		Replicas:     replicas,
		MaxValueSize: 64 * 1024,
	}
}

// LeasesConfig is the bucket of node leases; a key not renewed within ttl expires.
func LeasesConfig(ttl time.Duration, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:       contract.LeasesBucket,
		Description:  "TSBank leases: which process acts for an account node; expires unless renewed",
		History:      1,
		TTL:          ttl,
		Storage:      jetstream.FileStorage,
		Replicas:     replicas,
		MaxValueSize: 4096,
	}
}

// HistoryConsumerConfig is the history service's durable pull consumer, shared by its instances.
// Acknowledgements are explicit, and a batch's messages are acknowledged only after its rows
// committed; AckWait is generous so that a slow database does not cause needless redeliveries.
// It reads the whole stream, events published before a change of subjects included.
func HistoryConsumerConfig(replicas int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       contract.HistoryConsumer,
		Description:   "TSBank history: every event into the history database",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       10 * time.Second,
		MaxAckPending: 20000,
		Replicas:      replicas,
	}
}

// Missing tells whether err says that a stream, bucket or consumer does not exist: the services
// then wait for the provisioning step instead of creating it.
func Missing(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound)
}

// Hint is what an operator runs when an asset is missing.
const Hint = "run `tsbankctl provision` (or `tsbankctl migrate`, which provisions too) as the NATS operator"

// baseEventsConfig is the events stream, created (or updated) by the provisioning step
// (platform/provision), never by a service. Its duplicate window
// lets JetStream drop an account node's re-publish of an event whose mark-sent was lost in a crash;
// the history's unique event id covers a re-publish later than that.
//
// The stream captures what the nodes publish, bank.outbox.<node>.<account>.<type>, and re-publishes
// every message it stores to the customers' bank.events.<account>.<type>, dropping the node: so a
// subscriber sees only stored events, on the subject it always used. The re-publish destination
// must not be one of the stream's subjects (the server refuses the cycle), which is why the stream
// no longer captures bank.events.>; the messages stored there before stay in the stream.
func baseEventsConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        contract.EventsStream,
		Description: "TSBank balance-change events, one per committed change",
		Subjects:    []string{contract.OutboxSubjects},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  10 * time.Minute,
		// The bank's event log is append-only: no message may be deleted, nor the stream purged.
		DenyDelete: true,
		DenyPurge:  true,
		RePublish: &jetstream.RePublish{
			Source:      "bank.outbox.*.*.*",
			Destination: "bank.events.{{wildcard(2)}}.{{wildcard(3)}}",
		},
	}
}

// CountersConfig is the counters' stream: every increment message keeps the running total,
// so only the newest of each subject is kept; increments carry a Nats-Msg-Id, and the duplicate
// window makes a re-sent one count once.
func CountersConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              contract.CountersStream,
		Description:       "TSBank counters: committed transfers and their volume per day, bank-wide and per node",
		Subjects:          []string{contract.CountersSubjects},
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		AllowMsgCounter:   true,
		MaxMsgsPerSubject: 1,
		Duplicates:        10 * time.Minute,
	}
}
