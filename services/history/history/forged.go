package history

// Reasons why an event is forged, as stored in forged_events.reason.
const (
	// ForgedNodeMismatch: the node in the subject, whose NATS user published the event, is not
	// the node the event names.
	ForgedNodeMismatch = "node_mismatch"
	// ForgedSubjectMismatch: the subject names another account or type than the event.
	ForgedSubjectMismatch = "subject_mismatch"
	// ForgedNotOwner: the registry says another node owns the event's account.
	ForgedNotOwner = "not_owner"
	// ForgedUnregistered: no node owns the event's account.
	ForgedUnregistered = "unregistered_account"
)

// Origin is where an event came from: its subject, split, and what the registry says of its
// account.
type Origin struct {
	Subject string
	// Legacy is true for bank.events.<account>.<type>, where nodes published before the outbox
	// subjects; such a subject names no node.
	Legacy         bool
	PublishingNode string // the <node> of bank.outbox.<node>.<account>.<type>
	Account, Type  string // the subject's account and type
	Owner          string // the registry's owner of the event's account; "" if none
}

// Forged is an event the history refused because the node that published it could not have
// written it. It is recorded, never added to the transactions.
type Forged struct {
	StreamSeq      uint64
	EventID        string
	Account        string // the account the event names
	Subject        string
	ClaimedNode    string // the event's node field
	PublishingNode string // from the subject; "" for a legacy subject
	Owner          string // the registry's owner; "" if the account is not registered
	Reason         string
	Payload        []byte
}

// Forgery returns why row, which arrived from o, is forged, or "" if it is genuine: a node may
// publish only events it wrote (its name in the subject is the event's node) about accounts it
// owns. A message on a legacy subject names no publisher, so only the ownership is checked; NATS
// permissions could not tell nodes apart on that subject anyway, and the stream captures it no
// longer, so only messages stored before the upgrade arrive that way.
func Forgery(row Row, o Origin) string {
	switch {
	case !o.Legacy && o.PublishingNode != row.Node:
		return ForgedNodeMismatch
	case !o.Legacy && (o.Account != row.Account || o.Type != row.Type):
		return ForgedSubjectMismatch
	case o.Owner == "":
		return ForgedUnregistered
	case o.Owner != row.Node:
		return ForgedNotOwner
	}
	return ""
}
