package state

import "errors"

// Sentinel errors of the state store's writes. Returned errors wrap them
// with the field or value at fault; match them with errors.Is.
var (
	// ErrInvalidRequest is a request the store cannot act on: nil, or with
	// options that contradict each other.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrMissingNode is a request without a node name.
	ErrMissingNode = errors.New("missing node name")
	// ErrMissingNodeAddress is a registration of a new node without an
	// address (allowed for a node that exists, with SkipNodeUpdate).
	ErrMissingNodeAddress = errors.New("an address is required to register a node")
	// ErrMissingServiceName is a service without a name.
	ErrMissingServiceName = errors.New("missing service name")
	// ErrMissingCheckID is a check without an ID.
	ErrMissingCheckID = errors.New("missing check id")
	// ErrCheckNodeMismatch is a check registered for another node than the
	// request's.
	ErrCheckNodeMismatch = errors.New("check node does not match the registered node")
	// ErrUnknownNode names a node that is not in the catalog.
	ErrUnknownNode = errors.New("unknown node")
	// ErrUnknownService names a service instance that is not on its node.
	ErrUnknownService = errors.New("unknown service")
	// ErrUnknownCheck names a check that is not on its node.
	ErrUnknownCheck = errors.New("unknown check")
	// ErrCheckCritical is a session that would depend on a critical check.
	ErrCheckCritical = errors.New("check is critical")
	// ErrMissingKey is a KV write without a key.
	ErrMissingKey = errors.New("missing key")
	// ErrUnknownSession names a session that does not exist.
	ErrUnknownSession = errors.New("unknown session")
	// ErrMissingSessionID is a session create without an ID.
	ErrMissingSessionID = errors.New("missing session id")
	// ErrSessionExists is a session create whose ID is taken.
	ErrSessionExists = errors.New("session already exists")
	// ErrUnknownMember names a member that never joined.
	ErrUnknownMember = errors.New("unknown member")
	// ErrCorruptSnapshot is a snapshot stream Restore cannot read: a wrong
	// magic or version, a truncated or malformed record.
	ErrCorruptSnapshot = errors.New("corrupt snapshot")
)
