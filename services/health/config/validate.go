package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Check defaults and limits (Consul's).
const (
	MinInterval          = time.Second
	DefaultTimeout       = 10 * time.Second
	DefaultScriptTimeout = 30 * time.Second
	// OutputMax caps a check's output, as Consul's check_output_max_size.
	OutputMax = 4096

	maxMetaPairs  = 64
	maxMetaKeyLen = 128
	maxMetaValLen = 512
)

var metaKeyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// FieldError is a problem with one field of a definition; Field is a path
// relative to the definition, e.g. "checks[1].interval".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
}

func (p *problems) addErr(prefix string, err error) {
	if err == nil {
		return
	}
	for _, e := range Problems(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			*p = append(*p, &FieldError{Field: joinPath(prefix, fe.Field), Err: fe.Err})
			continue
		}
		*p = append(*p, &FieldError{Field: prefix, Err: e})
	}
}

func (p problems) err() error { return errors.Join(p...) }

// Problems returns the leaves of a tree of joined errors, such as Load's
// and Normalize's: one error per problem.
func Problems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}

// Normalize fills in a service's defaults (ID from Name, weights 1/1,
// check IDs and names) and reports every problem as a *FieldError, joined.
// Check is folded into Checks. It does not expand the sidecar; see Sidecar.
func (s *Service) Normalize() error {
	var p problems
	s.compact()
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" {
		p.add("name", "is required")
	}
	if s.ID == "" {
		s.ID = s.Name
	}
	switch s.Kind {
	case KindTypical, KindConnectProxy, KindMeshGateway, KindTerminatingGateway, KindIngressGateway, KindAPIGateway:
	default:
		p.add("kind", "%q is not a service kind (want connect-proxy, mesh-gateway, terminating-gateway, ingress-gateway or api-gateway)", s.Kind)
	}
	if s.Port < 0 || s.Port > 65535 {
		p.add("port", "%d is out of range 0-65535", s.Port)
	}
	checkMeta(&p, "meta", s.Meta)
	for k, ta := range s.TaggedAddresses {
		if ta.Port < 0 || ta.Port > 65535 {
			p.add(fmt.Sprintf("tagged_addresses.%s.port", k), "%d is out of range 0-65535", ta.Port)
		}
	}
	if s.Weights == nil {
		s.Weights = &Weights{Passing: 1, Warning: 1}
	} else if s.Weights.Passing < 1 || s.Weights.Warning < 0 {
		p.add("weights", "passing must be at least 1 and warning at least 0")
	}
	if s.Kind == KindConnectProxy {
		if s.Proxy == nil || s.Proxy.DestinationServiceName == "" {
			p.add("proxy.destination_service_name", "is required for a connect-proxy")
		}
		if s.Port == 0 && s.SocketPath == "" {
			p.add("port", "is required for a connect-proxy")
		}
	}
	if s.Proxy != nil {
		p.addErr("proxy", s.Proxy.validate())
	}

	checks := append(slices.Clone(s.Check), s.Checks...)
	s.Check, s.Checks = nil, checks
	for i := range s.Checks {
		c := &s.Checks[i]
		c.ServiceID = s.ID
		if c.ID == "" {
			c.ID = DerivedCheckID(s.ID, i, len(s.Checks))
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("Service '%s' check", s.Name)
		}
		p.addErr(fmt.Sprintf("checks[%d]", i), c.normalize())
	}

	if s.Connect != nil && s.Connect.SidecarService != nil {
		sc := s.Connect.SidecarService
		if sc.ID != "" {
			p.add("connect.sidecar_service.id", "is not allowed (the sidecar's ID is always %q)", s.ID+"-sidecar-proxy")
		}
		if sc.Kind != "" && sc.Kind != KindConnectProxy {
			p.add("connect.sidecar_service.kind", "is not allowed")
		}
		if sc.Connect != nil {
			p.add("connect.sidecar_service.connect", "is not allowed in a sidecar")
		}
		if s.Kind != KindTypical {
			p.add("connect.sidecar_service", "a %s cannot have a sidecar", s.Kind)
		}
		if len(p) == 0 {
			if _, err := Sidecar(s, 1); err != nil {
				p.addErr("connect.sidecar_service", err)
			}
		}
	}
	return p.err()
}

func (x *Proxy) validate() error {
	var p problems
	if x.LocalServicePort < 0 || x.LocalServicePort > 65535 {
		p.add("local_service_port", "%d is out of range 0-65535", x.LocalServicePort)
	}
	for i, u := range x.Upstreams {
		f := fmt.Sprintf("upstreams[%d]", i)
		if u.DestinationName == "" {
			p.add(f+".destination_name", "is required")
		}
		switch u.DestinationType {
		case "", "service", "prepared_query":
		default:
			p.add(f+".destination_type", "%q: want service or prepared_query", u.DestinationType)
		}
		if u.LocalBindPort <= 0 || u.LocalBindPort > 65535 {
			p.add(f+".local_bind_port", "is required (1-65535)")
		}
	}
	return p.err()
}

func checkMeta(p *problems, field string, m map[string]string) {
	if len(m) > maxMetaPairs {
		p.add(field, "has %d pairs, the limit is %d", len(m), maxMetaPairs)
	}
	for k, v := range m {
		switch {
		case len(k) > maxMetaKeyLen:
			p.add(field, "key %q is longer than %d bytes", k, maxMetaKeyLen)
		case !metaKeyRE.MatchString(k):
			p.add(field, "key %q may only contain letters, digits, '-' and '_'", k)
		case len(v) > maxMetaValLen:
			p.add(field, "value of %q is longer than %d bytes", k, maxMetaValLen)
		}
	}
}

// NormalizeNodeCheck fills in a node-level check's defaults (ID from Name)
// and reports its problems. A check whose ServiceID is set belongs to that
// service instead; the agent checks that the service exists.
func (c *Check) NormalizeNodeCheck() error {
	var p problems
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		p.add("name", "is required")
	}
	if c.ID == "" {
		c.ID = c.Name
	}
	p.addErr("", c.normalize())
	return p.err()
}

// normalize checks the kind-specific fields of a check and fills in
// timeouts; the caller has set ID and Name.
func (c *Check) normalize() error {
	var p problems
	if len(c.Header) == 0 {
		c.Header = nil
	}
	if len(c.Args) == 0 {
		c.Args = nil
	}
	switch {
	case c.Script != "":
		p.add("script", "is no longer supported: use args")
	case c.UDP != "":
		p.add("udp", "UDP checks are not supported by Beacon")
	case c.H2Ping != "":
		p.add("h2ping", "H2PING checks are not supported by Beacon")
	case c.DockerContainerID != "":
		p.add("docker_container_id", "Docker checks are not supported by Beacon")
	case c.OSService != "":
		p.add("os_service", "OS service checks are not supported by Beacon")
	}
	if len(p) > 0 {
		return p.err()
	}
	var kinds []string
	if c.HTTP != "" {
		kinds = append(kinds, "http")
	}
	if c.TCP != "" {
		kinds = append(kinds, "tcp")
	}
	if c.GRPC != "" {
		kinds = append(kinds, "grpc")
	}
	if c.TTL != 0 {
		kinds = append(kinds, "ttl")
	}
	if len(c.Args) > 0 {
		kinds = append(kinds, "args")
	}
	if c.AliasNode != "" || c.AliasService != "" {
		kinds = append(kinds, "alias")
	}
	switch len(kinds) {
	case 0:
		p.add("", "says nothing to run: set one of http, tcp, grpc, ttl, args, alias_service or alias_node")
		return p.err()
	case 1:
	default:
		p.add("", "sets several kinds of check (%s): set exactly one", strings.Join(kinds, ", "))
		return p.err()
	}
	switch c.Status {
	case "":
		c.Status = StatusCritical
	case StatusPassing, StatusWarning, StatusCritical:
	default:
		p.add("status", "%q: want passing, warning or critical", c.Status)
	}
	if c.Timeout < 0 {
		p.add("timeout", "is negative")
	}
	if c.Interval < 0 {
		p.add("interval", "is negative")
	}
	if c.DeregisterCriticalServiceAfter < 0 {
		p.add("deregister_critical_service_after", "is negative")
	}
	for f, v := range map[string]int{"success_before_passing": c.SuccessBeforePassing, "failures_before_warning": c.FailuresBeforeWarning, "failures_before_critical": c.FailuresBeforeCritical} {
		if v < 0 {
			p.add(f, "is negative")
		}
	}
	if c.Polled() {
		if c.Interval == 0 {
			p.add("interval", "is required for a %s check", c.Type())
		} else if c.Interval < MinInterval {
			c.Interval = MinInterval
		}
		if c.Timeout == 0 {
			c.Timeout = DefaultTimeout
			if c.Type() == TypeScript {
				c.Timeout = DefaultScriptTimeout
			}
		}
	}
	switch c.Type() {
	case TypeHTTP:
		u, err := url.Parse(c.HTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("http", "%q is not an http or https URL", c.HTTP)
		}
		if c.Method == "" {
			c.Method = "GET"
		}
		c.Method = strings.ToUpper(c.Method)
	case TypeTCP:
		if _, _, err := net.SplitHostPort(c.TCP); err != nil {
			p.add("tcp", "%q: want host:port", c.TCP)
		}
	case TypeGRPC:
		addr, _, _ := strings.Cut(c.GRPC, "/")
		if _, _, err := net.SplitHostPort(addr); err != nil {
			p.add("grpc", "%q: want host:port or host:port/service", c.GRPC)
		}
	case TypeTTL:
		if c.TTL < 0 {
			p.add("ttl", "is negative")
		}
	}
	return p.err()
}

// Sidecar expands parent's connect.sidecar_service into the sidecar's own
// registration: ID "<parent-id>-sidecar-proxy", kind connect-proxy; name,
// tags, meta, token and address from the parent unless given; the proxy's
// destination (parent's name and ID) and local service filled in where
// empty; and, unless checks are given, Consul's two default checks (a TCP
// check on the sidecar's address and port and an alias of the parent).
// port is used when the sidecar does not name one. It returns nil when
// parent has no sidecar. parent must be normalized.
func Sidecar(parent *Service, port int) (*Service, error) {
	if parent.Connect == nil || parent.Connect.SidecarService == nil {
		return nil, nil
	}
	sc := parent.Connect.SidecarService.Clone()
	sc.Source = parent.Connect.SidecarService.Source
	sc.ID = parent.ID + "-sidecar-proxy"
	sc.Kind = KindConnectProxy
	if sc.Name == "" {
		sc.Name = parent.Name + "-sidecar-proxy"
	}
	if len(sc.Tags) == 0 {
		sc.Tags = slices.Clone(parent.Tags)
	}
	if len(sc.Meta) == 0 {
		sc.Meta = maps.Clone(parent.Meta)
	}
	if sc.Token == "" {
		sc.Token = parent.Token
	}
	// A sidecar runs next to its service, so it is reached where the
	// service is: the catalog, DNS and the default TCP check all use this.
	if sc.Address == "" {
		sc.Address = parent.Address
	}
	if sc.Proxy == nil {
		sc.Proxy = &Proxy{}
	}
	// As in Consul, a destination given in the sidecar block is kept
	// rather than overwritten; only a proxy pointed at itself is refused.
	if sc.Proxy.DestinationServiceName == "" {
		sc.Proxy.DestinationServiceName = parent.Name
	}
	if sc.Proxy.DestinationServiceID == "" {
		sc.Proxy.DestinationServiceID = parent.ID
	}
	if sc.Proxy.DestinationServiceID == sc.ID {
		return nil, &FieldError{Field: "proxy.destination_service_id", Err: fmt.Errorf("%q is the sidecar itself", sc.ID)}
	}
	if sc.Proxy.LocalServiceAddress == "" {
		sc.Proxy.LocalServiceAddress = "127.0.0.1"
	}
	if sc.Proxy.LocalServicePort == 0 {
		sc.Proxy.LocalServicePort = parent.Port
	}
	if sc.Port == 0 {
		sc.Port = port
	}
	if len(sc.Check) == 0 && len(sc.Checks) == 0 {
		// With no address anywhere the proxy is assumed to listen where
		// the app does.
		addr := sc.Address
		if addr == "" {
			addr = sc.Proxy.LocalServiceAddress
		}
		sc.Checks = []Check{
			{Name: "Connect Sidecar Listening", TCP: net.JoinHostPort(addr, fmt.Sprint(sc.Port)), Interval: 10 * time.Second},
			{Name: "Connect Sidecar Aliasing " + parent.ID, AliasService: parent.ID},
		}
	}
	if err := sc.Normalize(); err != nil {
		return nil, err
	}
	return sc, nil
}

// Clone returns a deep copy of s.
func (s *Service) Clone() *Service {
	if s == nil {
		return nil
	}
	c := *s
	c.Tags = slices.Clone(s.Tags)
	c.Meta = maps.Clone(s.Meta)
	c.TaggedAddresses = maps.Clone(s.TaggedAddresses)
	c.Locality = cloneAnyMap(s.Locality)
	if s.Weights != nil {
		w := *s.Weights
		c.Weights = &w
	}
	if s.Proxy != nil {
		c.Proxy = s.Proxy.clone()
	}
	if s.Connect != nil {
		cn := *s.Connect
		cn.SidecarService = s.Connect.SidecarService.Clone()
		c.Connect = &cn
	}
	c.Check = cloneChecks(s.Check)
	c.Checks = cloneChecks(s.Checks)
	return &c
}

func (x *Proxy) clone() *Proxy {
	c := *x
	c.Config = cloneAnyMap(x.Config)
	c.MeshGateway = cloneAnyMap(x.MeshGateway)
	c.Expose = cloneAnyMap(x.Expose)
	if x.Upstreams != nil {
		c.Upstreams = make([]Upstream, len(x.Upstreams))
		for i, u := range x.Upstreams {
			u.Config = cloneAnyMap(u.Config)
			u.MeshGateway = cloneAnyMap(u.MeshGateway)
			c.Upstreams[i] = u
		}
	}
	return &c
}

func cloneChecks(cs []Check) []Check {
	if cs == nil {
		return nil
	}
	out := make([]Check, len(cs))
	for i := range cs {
		out[i] = *cs[i].Clone()
	}
	return out
}

// Clone returns a deep copy of c.
func (c *Check) Clone() *Check {
	if c == nil {
		return nil
	}
	n := *c
	n.Args = slices.Clone(c.Args)
	if c.Header != nil {
		n.Header = make(map[string][]string, len(c.Header))
		for k, v := range c.Header {
			n.Header[k] = slices.Clone(v)
		}
	}
	return &n
}

func cloneAnyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneAny(v)
	}
	return out
}

func cloneAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneAnyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneAny(e)
		}
		return out
	}
	return v
}

// SameDefinition reports whether two normalized services define the same
// thing, ignoring where they were written.
func SameDefinition(a, b *Service) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := a.Clone(), b.Clone()
	clearSources(x)
	clearSources(y)
	return reflect.DeepEqual(x, y)
}

// SameCheck reports whether two normalized checks define the same thing,
// ignoring where they were written.
func SameCheck(a, b *Check) bool {
	x, y := *a, *b
	x.Source, y.Source = Source{}, Source{}
	return reflect.DeepEqual(x, y)
}

func clearSources(s *Service) {
	s.Source = Source{}
	for i := range s.Checks {
		s.Checks[i].Source = Source{}
	}
	for i := range s.Check {
		s.Check[i].Source = Source{}
	}
	if s.Connect != nil && s.Connect.SidecarService != nil {
		clearSources(s.Connect.SidecarService)
	}
}

// compact turns empty collections into nil, so that a definition read from
// JSON and the same one read from HCL compare equal.
func (s *Service) compact() {
	if len(s.Tags) == 0 {
		s.Tags = nil
	}
	if len(s.Meta) == 0 {
		s.Meta = nil
	}
	if len(s.TaggedAddresses) == 0 {
		s.TaggedAddresses = nil
	}
	if len(s.Locality) == 0 {
		s.Locality = nil
	}
	if len(s.Check) == 0 {
		s.Check = nil
	}
	if x := s.Proxy; x != nil {
		if len(x.Upstreams) == 0 {
			x.Upstreams = nil
		}
		if len(x.Config) == 0 {
			x.Config = nil
		}
		if len(x.MeshGateway) == 0 {
			x.MeshGateway = nil
		}
		if len(x.Expose) == 0 {
			x.Expose = nil
		}
		for i := range x.Upstreams {
			if len(x.Upstreams[i].Config) == 0 {
				x.Upstreams[i].Config = nil
			}
			if len(x.Upstreams[i].MeshGateway) == 0 {
				x.Upstreams[i].MeshGateway = nil
			}
		}
	}
	if s.Connect != nil && s.Connect.SidecarService != nil {
		s.Connect.SidecarService.compact()
	}
}

// DerivedCheckID is the ID a service's check i of n gets when its
// definition names none, as Consul's agent derives it: "service:<id>", or
// "service:<id>:<i+1>" when the service has several checks.
func DerivedCheckID(serviceID string, i, n int) string {
	if n > 1 {
		return fmt.Sprintf("service:%s:%d", serviceID, i+1)
	}
	return "service:" + serviceID
}
