package grpcapi

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits on what the catalog accepts. Values and transaction sizes are
// Consul's; name and key lengths keep every record small enough to index.
const (
	MaxNameLen     = 256
	MaxKeyLen      = 2048
	MaxValueSize   = 512 * 1024
	MaxTxnOps      = 128
	MaxPutBatch    = 1024
	maxMetaPairs   = 64
	maxMetaKeyLen  = 128
	maxMetaValLen  = 512
	maxTagLen      = 512
	maxTags        = 256
	maxChecks      = 64
	minSessionTTL  = 10 * time.Second
	maxSessionTTL  = 24 * time.Hour
	maxOutputBytes = 64 * 1024
)

var metaKeyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// name checks a required identifier.
func name(field, v string) error {
	switch {
	case v == "":
		return invalid("%s is required", field)
	case len(v) > MaxNameLen:
		return invalid("%s is %d bytes long, the limit is %d", field, len(v), MaxNameLen)
	case !utf8.ValidString(v):
		return invalid("%s is not valid UTF-8", field)
	case strings.ContainsRune(v, 0):
		return invalid("%s contains a NUL byte", field)
	}
	return nil
}

// optName checks an identifier that may be empty.
func optName(field, v string) error {
	if v == "" {
		return nil
	}
	return name(field, v)
}

func enum(field string, e protoreflect.Enum) error {
	if e.Descriptor().Values().ByNumber(e.Number()) == nil {
		return invalid("%s: unknown value %d", field, e.Number())
	}
	return nil
}

func meta(field string, m map[string]string) error {
	if len(m) > maxMetaPairs {
		return invalid("%s has %d pairs, the limit is %d", field, len(m), maxMetaPairs)
	}
	for k, v := range m {
		switch {
		case k == "":
			return invalid("%s has an empty key", field)
		case len(k) > maxMetaKeyLen:
			return invalid("%s key %q is longer than %d bytes", field, k, maxMetaKeyLen)
		case !metaKeyRE.MatchString(k):
			return invalid("%s key %q may only contain letters, digits, '-' and '_'", field, k)
		case len(v) > maxMetaValLen:
			return invalid("%s[%q] is longer than %d bytes", field, k, maxMetaValLen)
		case !utf8.ValidString(v):
			return invalid("%s[%q] is not valid UTF-8", field, k)
		}
	}
	return nil
}

func port(field string, p int32) error {
	if p < 0 || p > 65535 {
		return invalid("%s %d is out of range 0-65535", field, p)
	}
	return nil
}

func address(field, a string) error {
	if len(a) > MaxNameLen {
		return invalid("%s is %d bytes long, the limit is %d", field, len(a), MaxNameLen)
	}
	if strings.ContainsAny(a, "\x00 \t\r\n") || !utf8.ValidString(a) {
		return invalid("%s %q is not a valid address", field, a)
	}
	return nil
}

func validateReadOptions(o *queryv1.ReadOptions) error {
	if o == nil {
		return nil
	}
	if err := enum("options.consistency", o.GetConsistency()); err != nil {
		return err
	}
	if w := o.GetMaxWait(); w != nil {
		if err := w.CheckValid(); err != nil {
			return invalid("options.max_wait: %v", err)
		}
		if w.AsDuration() < 0 {
			return invalid("options.max_wait is negative")
		}
	}
	return nil
}

func validateNode(n *catalogv1.Node) error {
	return validateNodeFields(n, false)
}

// validateNodeFields checks a node; the address may be left out only when
// skipUpdate (a registration of a node that exists, which it leaves as it
// is: the store refuses it if the node does not exist).
func validateNodeFields(n *catalogv1.Node, skipUpdate bool) error {
	if n == nil {
		return invalid("node is required")
	}
	if err := name("node.node", n.GetNode()); err != nil {
		return err
	}
	switch {
	case n.GetAddress() == "" && !skipUpdate:
		return invalid("node.address is required")
	case n.GetAddress() != "":
		if err := address("node.address", n.GetAddress()); err != nil {
			return err
		}
	}
	if err := optName("node.id", n.GetId()); err != nil {
		return err
	}
	for k, v := range n.GetTaggedAddresses() {
		if err := address(fmt.Sprintf("node.tagged_addresses[%q]", k), v); err != nil {
			return err
		}
	}
	return meta("node.meta", n.GetMeta())
}

func validateService(svc *catalogv1.Service) error {
	if err := name("service.service", svc.GetService()); err != nil {
		return err
	}
	if err := optName("service.id", svc.GetId()); err != nil {
		return err
	}
	if err := enum("service.kind", svc.GetKind()); err != nil {
		return err
	}
	if err := port("service.port", svc.GetPort()); err != nil {
		return err
	}
	if err := address("service.address", svc.GetAddress()); err != nil {
		return err
	}
	if len(svc.GetTags()) > maxTags {
		return invalid("service.tags has %d tags, the limit is %d", len(svc.GetTags()), maxTags)
	}
	for i, t := range svc.GetTags() {
		if len(t) > maxTagLen || !utf8.ValidString(t) || strings.ContainsRune(t, 0) {
			return invalid("service.tags[%d] is not a valid tag", i)
		}
	}
	for k, ta := range svc.GetTaggedAddresses() {
		if err := address(fmt.Sprintf("service.tagged_addresses[%q].address", k), ta.GetAddress()); err != nil {
			return err
		}
		if err := port(fmt.Sprintf("service.tagged_addresses[%q].port", k), ta.GetPort()); err != nil {
			return err
		}
	}
	if w := svc.GetWeights(); w != nil && (w.GetPassing() < 0 || w.GetWarning() < 0 || w.GetPassing() > 65535 || w.GetWarning() > 65535) {
		return invalid("service.weights must be within 0-65535")
	}
	if svc.GetKind() == catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY {
		if err := name("service.proxy.destination_service_name", svc.GetProxy().GetDestinationServiceName()); err != nil {
			return err
		}
	}
	for i, u := range svc.GetProxy().GetUpstreams() {
		if err := name(fmt.Sprintf("service.proxy.upstreams[%d].destination_name", i), u.GetDestinationName()); err != nil {
			return err
		}
		if err := port(fmt.Sprintf("service.proxy.upstreams[%d].local_bind_port", i), u.GetLocalBindPort()); err != nil {
			return err
		}
	}
	return meta("service.meta", svc.GetMeta())
}

func validateCheck(field string, c *catalogv1.HealthCheck) error {
	if err := name(field+".check_id", c.GetCheckId()); err != nil {
		return err
	}
	if err := optName(field+".name", c.GetName()); err != nil {
		return err
	}
	if err := optName(field+".node", c.GetNode()); err != nil {
		return err
	}
	if err := optName(field+".service_id", c.GetServiceId()); err != nil {
		return err
	}
	if err := enum(field+".status", c.GetStatus()); err != nil {
		return err
	}
	if len(c.GetOutput()) > maxOutputBytes || len(c.GetNotes()) > maxOutputBytes {
		return invalid("%s output and notes are limited to %d bytes", field, maxOutputBytes)
	}
	return nil
}

func validateRegister(r *catalogv1.RegisterRequest, dc string) error {
	if err := validateNodeFields(r.GetNode(), r.GetSkipNodeUpdate()); err != nil {
		return err
	}
	if d := r.GetNode().GetDatacenter(); d != "" && !strings.EqualFold(d, dc) {
		return invalid("node.datacenter %q: No path to datacenter", d)
	}
	if r.GetService() != nil {
		if err := validateService(r.GetService()); err != nil {
			return err
		}
	}
	if len(r.GetChecks()) > maxChecks {
		return invalid("checks has %d entries, the limit is %d", len(r.GetChecks()), maxChecks)
	}
	for i, c := range r.GetChecks() {
		field := fmt.Sprintf("checks[%d]", i)
		if err := validateCheck(field, c); err != nil {
			return err
		}
		if c.GetNode() != "" && !strings.EqualFold(c.GetNode(), r.GetNode().GetNode()) {
			return invalid("%s.node %q is not the registered node %q", field, c.GetNode(), r.GetNode().GetNode())
		}
	}
	return nil
}

// Key checks a KV key; the empty key is allowed only where allowEmpty (a
// prefix).
func key(field, k string, allowEmpty bool) error {
	switch {
	case k == "" && !allowEmpty:
		return invalid("%s is required", field)
	case len(k) > MaxKeyLen:
		return invalid("%s is %d bytes long, the limit is %d", field, len(k), MaxKeyLen)
	case !utf8.ValidString(k):
		return invalid("%s is not valid UTF-8", field)
	case strings.ContainsRune(k, 0):
		return invalid("%s contains a NUL byte", field)
	}
	return nil
}

func value(field string, v []byte) error {
	if len(v) > MaxValueSize {
		return invalid("%s is %d bytes, the limit is %d (512 KiB)", field, len(v), MaxValueSize)
	}
	return nil
}

func validatePut(r *kvv1.PutRequest) error {
	if err := key("key", r.GetKey(), false); err != nil {
		return err
	}
	if err := value("value", r.GetValue()); err != nil {
		return err
	}
	if r.GetAcquire() != "" && r.GetRelease() != "" {
		return invalid("acquire and release cannot both be set")
	}
	if err := optName("acquire", r.GetAcquire()); err != nil {
		return err
	}
	return optName("release", r.GetRelease())
}

// validatePutBatch checks every put of a batch as Put would, naming the
// one at fault, and refuses lock operations, which Put alone takes.
func validatePutBatch(puts []*kvv1.PutRequest) error {
	switch {
	case len(puts) == 0:
		return invalid("puts is empty")
	case len(puts) > MaxPutBatch:
		return invalid("puts has %d writes, the limit is %d", len(puts), MaxPutBatch)
	}
	for i, p := range puts {
		if err := validatePut(p); err != nil {
			return invalid("puts[%d]: %s", i, status.Convert(err).Message())
		}
		if p.GetAcquire() != "" || p.GetRelease() != "" {
			return invalid("puts[%d]: acquire and release are not batched: use Put", i)
		}
	}
	return nil
}

func validateSession(s *kvv1.Session) error {
	if s == nil {
		return invalid("session is required")
	}
	if err := name("session.node", s.GetNode()); err != nil {
		return err
	}
	if len(s.GetName()) > MaxNameLen {
		return invalid("session.name is longer than %d bytes", MaxNameLen)
	}
	if err := enum("session.behavior", s.GetBehavior()); err != nil {
		return err
	}
	if d := s.GetLockDelay(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 || d.AsDuration() > time.Minute {
			return invalid("session.lock_delay must be between 0s and 60s")
		}
	}
	if t := s.GetTtl(); t != nil && t.AsDuration() != 0 {
		if err := t.CheckValid(); err != nil || t.AsDuration() < minSessionTTL || t.AsDuration() > maxSessionTTL {
			return invalid("session.ttl %s: must be between %s and %s", t.AsDuration(), minSessionTTL, maxSessionTTL)
		}
	}
	for i, c := range s.GetNodeChecks() {
		if err := name(fmt.Sprintf("session.node_checks[%d]", i), c); err != nil {
			return err
		}
	}
	for i, c := range s.GetServiceChecks() {
		if err := name(fmt.Sprintf("session.service_checks[%d].id", i), c.GetId()); err != nil {
			return err
		}
	}
	return nil
}

func validateTxn(ops []*kvv1.TxnOp) error {
	if len(ops) == 0 {
		return invalid("ops is empty")
	}
	if len(ops) > MaxTxnOps {
		return invalid("ops has %d operations, the limit is %d", len(ops), MaxTxnOps)
	}
	total := 0
	for i, op := range ops {
		kv := op.GetKv()
		if kv == nil {
			return invalid("ops[%d] has no operation", i)
		}
		field := fmt.Sprintf("ops[%d].kv", i)
		if err := enum(field+".verb", kv.GetVerb()); err != nil {
			return err
		}
		if kv.GetVerb() == kvv1.KVVerb_KV_VERB_UNSPECIFIED {
			return invalid("%s.verb is required", field)
		}
		allowEmpty := kv.GetVerb() == kvv1.KVVerb_KV_VERB_GET_TREE || kv.GetVerb() == kvv1.KVVerb_KV_VERB_DELETE_TREE
		if err := key(field+".key", kv.GetKey(), allowEmpty); err != nil {
			return err
		}
		if err := value(field+".value", kv.GetValue()); err != nil {
			return err
		}
		total += len(kv.GetValue())
		switch kv.GetVerb() {
		case kvv1.KVVerb_KV_VERB_LOCK, kvv1.KVVerb_KV_VERB_UNLOCK, kvv1.KVVerb_KV_VERB_CHECK_SESSION:
			if err := name(field+".session", kv.GetSession()); err != nil {
				return err
			}
		}
	}
	if total > MaxValueSize {
		return invalid("ops carry %d bytes of values, the limit is %d", total, MaxValueSize)
	}
	return nil
}

// readOnly reports whether every op of a transaction only reads.
func readOnly(ops []*kvv1.TxnOp) bool {
	for _, op := range ops {
		switch op.GetKv().GetVerb() {
		case kvv1.KVVerb_KV_VERB_GET, kvv1.KVVerb_KV_VERB_GET_TREE, kvv1.KVVerb_KV_VERB_GET_OR_EMPTY,
			kvv1.KVVerb_KV_VERB_CHECK_INDEX, kvv1.KVVerb_KV_VERB_CHECK_SESSION, kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS:
		default:
			return false
		}
	}
	return true
}
